#pragma once

#include <atomic>

#include <grpcpp/server_context.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/index/topk_merge.h"
#include "orqa/v1/openqa.pb.h"
#include "services/gateway/backends.h"

namespace orqa {

class FanOut;

/// One question's parameters after defaults are applied.
struct AnswerParams {
  std::string question;
  int k = 0;            // blocks to retrieve
  int num_answers = 1;
  bool return_retrieved = false;
  bool return_timings = false;
  int read_k = 0;       // blocks to read, the best of the k; 0 = all k
  orqa::v1::RetrievalMode mode = orqa::v1::RETRIEVAL_MODE_DENSE;  // resolved: never UNSPECIFIED
};

/// How the gateway fuses the dense and sparse lists in hybrid retrieval.
struct FusionOptions {
  /// Weighted score fusion instead of reciprocal rank fusion.
  bool weighted = false;
  /// Weight of the dense list in weighted fusion (sparse gets 1 − w).
  double dense_weight = 0.5;
  /// The constant c of reciprocal rank fusion, 1 / (c + rank).
  double rrf_c = 60.0;
};

/// question → Retrieve on every shard (all at once, exact merge) → Read →
/// answers with evidence. Every downstream call inherits the client's
/// deadline and cancellation; a backend that is down gives UNAVAILABLE naming it.
class AnswerPipeline {
 public:
  AnswerPipeline(Backends* backends, FusionOptions fusion = {}) : backends_(backends), fusion_(fusion) {}
  absl::Status Answer(grpc::ServerContext* context, const AnswerParams& params,
                      orqa::v1::AnswerResponse* response) const;

 private:
  // One retrieval mode's calls to every shard, started on a FanOut.
  struct PendingRetrieval;
  // Starts `mode` on every shard (dense over several shards: embeds the
  // question on one shard first, on this thread, then Search everywhere).
  absl::Status StartRetrieval(grpc::ServerContext* context, const std::string& question,
                              const std::vector<int>& shard_k, orqa::v1::RetrievalMode mode, FanOut* fan,
                              PendingRetrieval* r) const;
  // After fan.Wait(): the exact top k over the shards; fills the blocks' texts.
  absl::StatusOr<ScoredIds> FinishRetrieval(PendingRetrieval& r, const FanOut& fan, int k,
                                            std::map<int64_t, orqa::v1::Block>* blocks, double* embed_ms,
                                            double* search_ms) const;

  Backends* backends_;
  FusionOptions fusion_;
  // The shard that embeds the next dense question when there are several.
  mutable std::atomic<size_t> next_embedding_shard_{0};
};

}  // namespace orqa
