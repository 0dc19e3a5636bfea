#include "common/infra/tls.h"
#include "services/cli/eval_core.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/eval/answer_scoring.h"
#include "common/model/realm_config.h"
#include "common/text/wordpiece_tokenizer.h"
#include "orqa/v1/openqa.grpc.pb.h"
#include "services/cli/progress.h"

namespace orqa::cli {
namespace {

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

orqa::v1::RetrievalMode Mode(const std::string& r) {
  if (r == "dense") return orqa::v1::RETRIEVAL_MODE_DENSE;
  if (r == "sparse") return orqa::v1::RETRIEVAL_MODE_SPARSE;
  if (r == "hybrid") return orqa::v1::RETRIEVAL_MODE_HYBRID;
  return orqa::v1::RETRIEVAL_MODE_UNSPECIFIED;
}

}  // namespace

absl::Status CheckRetrievalMode(const std::string& r) {
  if (r.empty() || r == "dense" || r == "sparse" || r == "hybrid") return absl::OkStatus();
  return absl::InvalidArgumentError("--retrieval: expected dense, sparse or hybrid, got '" + r + "'");
}

absl::StatusOr<EvalResult> RunEvaluation(const EvalRun& run) {
  auto tok = WordPieceTokenizer::FromVocabFile(run.model_dir + "/vocab.txt");
  if (!tok.ok()) return tok.status();
  auto config = ReadRealmConfig(run.model_dir + "/config.json");
  if (!config.ok()) return config.status();
  ScoringOptions scoring;
  scoring.regex = run.regex;
  scoring.reader_seq_len = config->reader_seq_len;
  scoring.ks.clear();
  for (int v : run.ks) {
    if (v <= run.k) scoring.ks.push_back(v);
  }
  const size_t n = run.examples.size();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  auto stub = orqa::v1::OpenQA::NewStub(grpc::CreateCustomChannel(run.gateway, MakeChannelCredentials(run.tls), args));
  std::vector<QuestionScores> scores(n);
  std::vector<double> latency_ms(n);
  EvalResult result;
  result.rows.resize(n);
  std::atomic<size_t> next{0}, done{0};
  std::mutex mu;
  absl::Status failure;
  Progress progress("questions", static_cast<int64_t>(n));
  const auto started = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      const QaExample& ex = run.examples[i];
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(run.timeout_ms));
      orqa::v1::AnswerRequest req;
      req.set_question(ex.question);
      req.set_k(run.k);
      req.set_read_k(run.read_k);
      req.set_return_retrieved(true);
      req.set_retrieval(Mode(run.retrieval));
      orqa::v1::AnswerResponse resp;
      const auto t0 = std::chrono::steady_clock::now();
      grpc::Status st = stub->Answer(&ctx, req, &resp);
      latency_ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failure.ok()) {
          failure = absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                 absl::StrCat(run.data_name, ":", ex.line, ": ", run.gateway, ": ", st.error_message()));
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
      p.read = run.read_k;
      scores[i] = ScorePrediction(*tok, ex, p, scoring);
      nlohmann::json row = {{"question", ex.question}, {"answers", ex.answers}, {"prediction", p.answer},
                            {"latency_ms", latency_ms[i]}};
      std::vector<int64_t> top(p.retrieved_ids.begin(), p.retrieved_ids.begin() + std::min<size_t>(5, p.retrieved_ids.size()));
      row["retrieved_top5"] = top;
      for (const auto& [m, v] : scores[i].metrics) row["metrics"][m] = v;
      result.rows[i] = std::move(row);
      const size_t d = ++done;
      std::lock_guard<std::mutex> lock(mu);
      progress.Update(static_cast<int64_t>(d));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < run.concurrency; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!failure.ok()) return failure;
  progress.Done(static_cast<int64_t>(n));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json& summary = result.summary;
  summary["data"] = run.data_name;
  summary["questions"] = n;
  summary["k"] = run.k;
  summary["read_k"] = run.read_k;
  summary["retrieval"] = run.retrieval.empty() ? "gateway default" : run.retrieval;
  std::map<std::string, double> sums;
  for (const auto& s : scores) {
    for (const auto& [m, v] : s.metrics) sums[m] += v ? 1.0 : 0.0;
  }
  for (const auto& [m, v] : sums) summary["metrics"][m] = n > 0 ? v / static_cast<double>(n) : 0.0;
  summary["latency_ms"] = {{"p50", Percentile(latency_ms, 0.5)}, {"p95", Percentile(latency_ms, 0.95)},
                           {"p99", Percentile(latency_ms, 0.99)}};
  summary["questions_per_second"] = seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
  return result;
}

}  // namespace orqa::cli
