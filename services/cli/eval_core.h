#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/infra/tls.h"
#include "absl/status/statusor.h"
#include "common/eval/qa_dataset.h"

namespace orqa::cli {

/// One scoring run of QA examples through a running gateway, as `orqa eval`
/// and `orqa benchmark` make it.
struct EvalRun {
  std::string gateway = "127.0.0.1:50051";
  TlsCalling tls;  // --tls-ca, --tls-cert, --tls-key
  std::string data_name;  // in messages and the summary
  std::vector<QaExample> examples;
  std::string model_dir;  // vocab.txt, config.json (reader_seq_len)
  int k = 100, read_k = 5, concurrency = 4, timeout_ms = 600000;
  std::vector<int> ks = {1, 5, 20, 100};  // top_k_match / recall@k, those <= k
  std::string retrieval;                  // dense, sparse, hybrid or "" (the gateway's)
  bool regex = false;                     // CuratedTrec answers
};

struct EvalResult {
  /// data, questions, k, read_k, retrieval, metrics {name: fraction},
  /// latency_ms {p50, p95, p99}, questions_per_second.
  nlohmann::json summary;
  std::vector<nlohmann::json> rows;  // per question: prediction, latency, metrics
};

/// Asks every example (concurrency at a time) with return_retrieved and
/// scores the answers as ORQA does. A failed call stops the run with its
/// status, naming the data line and the gateway.
absl::StatusOr<EvalResult> RunEvaluation(const EvalRun& run);

/// "dense" / "sparse" / "hybrid" / "" -> ok; anything else an error naming --retrieval.
absl::Status CheckRetrievalMode(const std::string& retrieval);

}  // namespace orqa::cli
