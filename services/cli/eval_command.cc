// `orqa eval`: a QA dataset through a running gateway, scored as ORQA scores
// (exact match, official exact match, reader oracle, top-k match over a real
// top-k retrieval, recall@k), with latency percentiles and throughput.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/infra/tls.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/eval/qa_dataset.h"
#include "common/fetch/model_source.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "services/cli/commands.h"
#include "services/cli/eval_core.h"

namespace orqa::cli {

int RunEval(int argc, char** argv) {
  constexpr char kCmd[] = "orqa eval";
  std::string gateway = "127.0.0.1:50051", data, model_dir, ks_text = "1,5,20,100", predictions_path, summary_path;
  int limit = 0, k = 100, read_k = 5, concurrency = 4, timeout_ms = 600000;
  bool regex = false, json_out = false;
  std::string retrieval;
  FlagSet flags(kCmd, "Scores a QA dataset (JSON lines: question, answers) through a running orqa-gateway.");
  flags.String("gateway", &gateway, "orqa-gateway address host:port.");
  flags.String("data", &data, "Questions: NQ-open, WebQuestions, CuratedTrec or SQuAD-open JSON lines.");
  flags.String("model-dir", &model_dir,
               "The served model's directory (vocab.txt, config.json: reader_seq_len), or its Hugging Face model id.");
  flags.Int("limit", &limit, "Score the first N questions only (0 = all).");
  flags.Int("k", &k, "Blocks retrieved per question (top-k match is computed on these; up to 5000).");
  flags.Int("read-k", &read_k, "Blocks the reader reads, the best of the k (the reader beam).");
  flags.String("top-k", &ks_text, "The k of top_k_match / recall@k, comma-separated (capped at --k).");
  flags.Int("concurrency", &concurrency, "Questions in flight at once.");
  flags.String("retrieval", &retrieval, "dense, sparse or hybrid (default: the gateway's).");
  flags.Int("timeout-ms", &timeout_ms, "Deadline of each question.");
  flags.Bool("regex-answers", &regex, "Answers are regexes (CuratedTrec; on by itself for a file named CuratedTrec*).");
  flags.String("predictions", &predictions_path, "Write per-question predictions and scores as JSON lines here.");
  flags.String("summary", &summary_path, "Write the summary as JSON here.");
  flags.Bool("json", &json_out, "Print the summary as JSON instead of a table.");
  TlsCalling tls;
  AddClientTlsFlags(flags, &tls);
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (data.empty() || model_dir.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--data and --model-dir are required"), 2);
  }
  if (k < 1 || k > 5000 || read_k < 1 || read_k > k || concurrency < 1 || concurrency > 256 || limit < 0) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(
                                 "--k in [1, 5000], --read-k in [1, k], --concurrency in [1, 256], --limit >= 0"), 2);
  }
  if (absl::Status st = ValidateTlsCalling(tls, "--tls-"); !st.ok()) return ReportFatal(kCmd, st, 2);
  if (data.find("CuratedTrec") != std::string::npos) regex = true;
  if (absl::Status st = CheckRetrievalMode(retrieval); !st.ok()) return ReportFatal(kCmd, st, 2);
  auto examples = ReadQaJsonl(data);
  if (!examples.ok()) return ReportFatal(kCmd, examples.status());
  auto resolved = ResolveModelPath(model_dir, "--model-dir");
  if (!resolved.ok()) return ReportFatal(kCmd, resolved.status());
  EvalRun run;
  run.gateway = gateway;
  run.tls = tls;
  run.data_name = data;
  run.model_dir = *resolved;
  run.k = k;
  run.read_k = read_k;
  run.concurrency = concurrency;
  run.timeout_ms = timeout_ms;
  run.retrieval = retrieval;
  run.regex = regex;
  run.ks.clear();
  for (absl::string_view part : absl::StrSplit(ks_text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat("--top-k: '", part, "' is not a positive integer")), 2);
    }
    run.ks.push_back(v);
  }
  const size_t n = limit > 0 ? std::min<size_t>(limit, examples->size()) : examples->size();
  examples->resize(n);
  run.examples = std::move(*examples);
  auto result = RunEvaluation(run);
  if (!result.ok()) return ReportFatal(kCmd, result.status());
  const nlohmann::json& summary = result->summary;
  const std::vector<nlohmann::json>& rows = result->rows;
  if (!predictions_path.empty()) {
    std::ofstream out(predictions_path);
    for (const auto& r : rows) out << r.dump() << "\n";
    if (!out) return ReportFatal(kCmd, absl::PermissionDeniedError(predictions_path + ": cannot write"));
  }
  if (!summary_path.empty()) {
    std::ofstream out(summary_path);
    out << summary.dump(2) << "\n";
    if (!out) return ReportFatal(kCmd, absl::PermissionDeniedError(summary_path + ": cannot write"));
  }
  if (json_out) {
    std::printf("%s\n", summary.dump(2).c_str());
    return 0;
  }
  std::printf("%-24s %8s\n", "metric", "value");
  for (const auto& [m, v] : summary["metrics"].items()) std::printf("%-24s %7.2f%%\n", m.c_str(), 100.0 * v.get<double>());
  std::printf("%-24s %8zu\n", "questions", n);
  std::printf("%-24s %8.1f ms\n", "latency p50", summary["latency_ms"]["p50"].get<double>());
  std::printf("%-24s %8.1f ms\n", "latency p95", summary["latency_ms"]["p95"].get<double>());
  std::printf("%-24s %8.1f ms\n", "latency p99", summary["latency_ms"]["p99"].get<double>());
  std::printf("%-24s %8.2f\n", "questions/s", summary["questions_per_second"].get<double>());
  return 0;
}

}  // namespace orqa::cli
