// `orqa eval`: a QA dataset through a running gateway, scored as ORQA scores
// (exact match, official exact match, reader oracle, top-k match over a real
// top-k retrieval, recall@k), with latency percentiles and throughput.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/eval/answer_scoring.h"
#include "common/fetch/model_source.h"
#include "common/eval/qa_dataset.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/model/realm_config.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "services/cli/commands.h"
#include "services/cli/progress.h"

namespace orqa::cli {
namespace {

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

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
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (data.empty() || model_dir.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--data and --model-dir are required"), 2);
  }
  if (k < 1 || k > 5000 || read_k < 1 || read_k > k || concurrency < 1 || concurrency > 256 || limit < 0) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(
                                 "--k in [1, 5000], --read-k in [1, k], --concurrency in [1, 256], --limit >= 0"), 2);
  }
  if (data.find("CuratedTrec") != std::string::npos) regex = true;
  orqa::v1::RetrievalMode mode = orqa::v1::RETRIEVAL_MODE_UNSPECIFIED;
  if (retrieval == "dense") mode = orqa::v1::RETRIEVAL_MODE_DENSE;
  else if (retrieval == "sparse") mode = orqa::v1::RETRIEVAL_MODE_SPARSE;
  else if (retrieval == "hybrid") mode = orqa::v1::RETRIEVAL_MODE_HYBRID;
  else if (!retrieval.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--retrieval: expected dense, sparse or hybrid, got '" + retrieval + "'"), 2);
  }
  auto examples = ReadQaJsonl(data);
  if (!examples.ok()) return ReportFatal(kCmd, examples.status());
  auto resolved = ResolveModelPath(model_dir, "--model-dir");
  if (!resolved.ok()) return ReportFatal(kCmd, resolved.status());
  model_dir = *resolved;
  auto tok = WordPieceTokenizer::FromVocabFile(model_dir + "/vocab.txt");
  if (!tok.ok()) return ReportFatal(kCmd, tok.status());
  auto config = ReadRealmConfig(model_dir + "/config.json");
  if (!config.ok()) return ReportFatal(kCmd, config.status());
  ScoringOptions scoring;
  scoring.regex = regex;
  scoring.reader_seq_len = config->reader_seq_len;
  scoring.ks.clear();
  for (absl::string_view part : absl::StrSplit(ks_text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat("--top-k: '", part, "' is not a positive integer")), 2);
    }
    if (v <= k) scoring.ks.push_back(v);
  }
  const size_t n = limit > 0 ? std::min<size_t>(limit, examples->size()) : examples->size();

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateCustomChannel(gateway, grpc::InsecureChannelCredentials(), args));
  std::vector<QuestionScores> scores(n);
  std::vector<double> latency_ms(n);
  std::vector<nlohmann::json> rows(n);
  std::atomic<size_t> next{0}, done{0};
  std::mutex mu;
  absl::Status failure;
  Progress progress("questions", static_cast<int64_t>(n));
  auto started = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      const QaExample& ex = (*examples)[i];
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
      orqa::v1::AnswerRequest req;
      req.set_question(ex.question);
      req.set_k(k);
      req.set_read_k(read_k);
      req.set_return_retrieved(true);
      req.set_retrieval(mode);
      orqa::v1::AnswerResponse resp;
      auto t0 = std::chrono::steady_clock::now();
      grpc::Status st = stub->Answer(&ctx, req, &resp);
      latency_ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failure.ok()) {
          failure = absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                 absl::StrCat(data, ":", ex.line, ": ", gateway, ": ", st.error_message()));
        }
        next = n;
        return;
      }
      QaPrediction p;
      if (resp.answers_size() > 0) p.answer = resp.answers(0).text();
      for (const auto& b : resp.retrieved()) {
        p.retrieved_ids.push_back(b.id());
        p.retrieved_texts.push_back(b.text());
      }
      p.read = read_k;
      scores[i] = ScorePrediction(*tok, ex, p, scoring);
      nlohmann::json row = {{"question", ex.question}, {"answers", ex.answers}, {"prediction", p.answer},
                            {"latency_ms", latency_ms[i]}};
      std::vector<int64_t> top(p.retrieved_ids.begin(), p.retrieved_ids.begin() + std::min<size_t>(5, p.retrieved_ids.size()));
      row["retrieved_top5"] = top;
      for (const auto& [m, v] : scores[i].metrics) row["metrics"][m] = v;
      rows[i] = std::move(row);
      const size_t d = ++done;
      std::lock_guard<std::mutex> lock(mu);
      progress.Update(static_cast<int64_t>(d));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!failure.ok()) return ReportFatal(kCmd, failure);
  progress.Done(static_cast<int64_t>(n));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json summary;
  summary["data"] = data;
  summary["questions"] = n;
  summary["k"] = k;
  summary["read_k"] = read_k;
  summary["retrieval"] = retrieval.empty() ? "gateway default" : retrieval;
  std::map<std::string, double> sums;
  for (const auto& s : scores) {
    for (const auto& [m, v] : s.metrics) sums[m] += v ? 1.0 : 0.0;
  }
  for (const auto& [m, v] : sums) summary["metrics"][m] = n > 0 ? v / static_cast<double>(n) : 0.0;
  summary["latency_ms"] = {{"p50", Percentile(latency_ms, 0.5)}, {"p95", Percentile(latency_ms, 0.95)},
                           {"p99", Percentile(latency_ms, 0.99)}};
  summary["questions_per_second"] = seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
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
