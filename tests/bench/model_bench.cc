// Model-core benchmark (not a test): tokenizer throughput on real Wikipedia
// paragraphs, and embedder / reader forward time for a BERT-base-sized
// random REALM model. Prints a table; thread settings are flags.
//   model_bench [--blocks PATH] [--vocab PATH] [--threads N] [--iters N] [--rows-sweep 1] [--heap 0|1]
//               [--precision fp32|bf16|int8]
// --rows-sweep 1 prints only the reader's forward time per row for 1…40 rows
// (or --rows 5,6,8) of 288 tokens (what one dynamic batch of 1…8 five-block
// requests costs).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/infra/tensor_allocator.h"
#include "common/model/open_qa.h"
#include "common/model/realm_models.h"
#include "common/text/wordpiece_tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

template <typename F>
double MedianMs(int iters, F&& f) {
  std::vector<double> t;
  f();  // warm-up
  for (int i = 0; i < iters; ++i) {
    auto s = Clock::now();
    f();
    t.push_back(Seconds(s) * 1000);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string shared = std::getenv("ORQA_SHARED_DIR") ? std::getenv("ORQA_SHARED_DIR") : "../shared";
  std::string blocks_path = shared + "/data/squad-v1.1-dev-open/blocks.jsonl";
  std::string vocab_path = shared + "/fixtures/realm-tiny/vocab.txt";
  int threads = 1, iters = 5, sweep = 0, heap = 0;
  std::string precision_name = "fp32";
  std::string profile_path;  // --profile PATH: one reader forward traced (chrome trace JSON)
  std::vector<int64_t> sweep_rows = {1, 2, 5, 10, 20, 40};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--blocks") blocks_path = v;
    else if (f == "--vocab") vocab_path = v;
    else if (f == "--threads") threads = std::stoi(v);
    else if (f == "--iters") iters = std::stoi(v);
    else if (f == "--rows-sweep") sweep = std::stoi(v);
    else if (f == "--heap") heap = std::stoi(v);
    else if (f == "--precision") precision_name = v;
    else if (f == "--profile") profile_path = v;
    else if (f == "--rows") {  // comma-separated row counts for --rows-sweep
      sweep_rows.clear();
      for (size_t a = 0, b; a < v.size(); a = b + 1) {
        b = v.find(',', a);
        if (b == std::string::npos) b = v.size();
        sweep_rows.push_back(std::stoll(v.substr(a, b - a)));
      }
    }
    else {
      std::fprintf(stderr, "model_bench: error: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  // --heap 1: what the services do (orqa::KeepTensorAllocationsInHeap); 0: glibc's defaults.
  if (heap) orqa::KeepTensorAllocationsInHeap();
  torch::set_num_threads(threads);
  auto tok = orqa::WordPieceTokenizer::FromVocabFile(vocab_path);
  if (!tok.ok()) {
    std::fprintf(stderr, "model_bench: error: %s\n", std::string(tok.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> texts;
  size_t bytes = 0;
  std::ifstream in(blocks_path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    texts.push_back(j["text"].get<std::string>());
    bytes += texts.back().size();
  }
  if (texts.empty()) {
    std::fprintf(stderr, "model_bench: error: no blocks in %s\n", blocks_path.c_str());
    return 1;
  }
  auto t0 = Clock::now();
  size_t pieces = 0;
  for (const auto& t : texts) pieces += tok->Tokenize(t).size();
  double tok_s = Seconds(t0);

  // BERT-base-sized REALM: 12 layers, hidden 768, 12 heads, FFN 3072, proj 128.
  orqa::RealmConfig c;
  c.hidden_act = "gelu_new";
  torch::manual_seed(0);
  torch::NoGradGuard ng;
  orqa::RealmEmbedder embedder(c);
  orqa::RealmReader reader(c);
  // As served: inference mode (no dropout), the encoders' dense layers at --precision.
  embedder->eval();
  reader->eval();
  auto precision = orqa::ParsePrecision(precision_name);
  if (!precision.ok()) {
    std::fprintf(stderr, "model_bench: error: --precision: %s\n", std::string(precision.status().message()).c_str());
    return 2;
  }
  embedder->realm->SetPrecision(*precision);
  reader->realm->SetPrecision(*precision);
  std::printf("arithmetic: %s\n", embedder->realm->precision_plan().summary.c_str());
  auto ids = [&](int64_t b, int64_t l) { return torch::randint(1000, 30000, {b, l}, torch::kLong); };
  auto ones = [](int64_t b, int64_t l) { return torch::ones({b, l}, torch::kLong); };
  auto zeros = [](int64_t b, int64_t l) { return torch::zeros({b, l}, torch::kLong); };

  if (!profile_path.empty()) {
    auto t = torch::cat({torch::zeros({5, 20}, torch::kLong), torch::ones({5, 268}, torch::kLong)}, 1);
    auto in = ids(5, 288);
    reader(in, ones(5, 288), t, t.to(torch::kBool));  // warm-up
    {
      torch::autograd::profiler::RecordProfile guard(profile_path);
      reader(in, ones(5, 288), t, t.to(torch::kBool));
    }
    std::printf("wrote %s\n", profile_path.c_str());
    return 0;
  }
  if (sweep) {
    std::printf("reader BERT-base forward by rows (288 tokens each), precision %s, torch intra-op threads %d, "
                "OPENBLAS_NUM_THREADS=%s, malloc: %s\n",
                precision_name.c_str(), torch::get_num_threads(), std::getenv("OPENBLAS_NUM_THREADS") ? std::getenv("OPENBLAS_NUM_THREADS") : "unset",
                heap ? "large tensors kept in the heap (the services)" : "glibc defaults (mmap above 32 MiB)");
    std::printf("%6s %12s %12s %14s\n", "rows", "ms (median)", "ms per row", "rows/s");
    for (int64_t rows : sweep_rows) {
      auto t = torch::cat({torch::zeros({rows, 20}, torch::kLong), torch::ones({rows, 268}, torch::kLong)}, 1);
      auto m = t.to(torch::kBool);
      auto in = ids(rows, 288);
      const double ms = MedianMs(iters, [&] { reader(in, ones(rows, 288), t, m); });
      std::printf("%6lld %12.1f %12.1f %14.2f\n", static_cast<long long>(rows), ms, ms / rows, rows * 1000.0 / ms);
      std::fflush(stdout);
    }
    return 0;
  }
  double q1 = MedianMs(iters, [&] { embedder(ids(1, 16), ones(1, 16), zeros(1, 16)); });
  double q16 = MedianMs(iters, [&] { embedder(ids(16, 16), ones(16, 16), zeros(16, 16)); });
  double blocks8 = MedianMs(iters, [&] { embedder(ids(8, 288), ones(8, 288), zeros(8, 288)); });
  auto types = torch::cat({torch::zeros({5, 20}, torch::kLong), torch::ones({5, 268}, torch::kLong)}, 1);
  auto block_mask = types.to(torch::kBool);
  double read5 = MedianMs(iters, [&] { reader(ids(5, 288), ones(5, 288), types, block_mask); });

  std::printf("orqa model-core benchmark (precision %s, torch intra-op threads: %d, OPENBLAS_NUM_THREADS=%s, "
              "OMP_NUM_THREADS=%s)\n",
              precision_name.c_str(), torch::get_num_threads(), std::getenv("OPENBLAS_NUM_THREADS") ? std::getenv("OPENBLAS_NUM_THREADS") : "unset",
              std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "unset");
  std::printf("%-52s %14s %14s\n", "measurement", "value", "unit");
  std::printf("%-52s %14.2f %14s\n", "tokenizer: SQuAD paragraphs (2,067 blocks)", bytes / tok_s / 1e6, "MB/s");
  std::printf("%-52s %14.0f %14s\n", "tokenizer: word pieces", pieces / tok_s, "pieces/s");
  std::printf("%-52s %14.1f %14s\n", "embedder BERT-base: 1 question x 16 tokens", q1, "ms (median)");
  std::printf("%-52s %14.1f %14s\n", "embedder BERT-base: 16 questions x 16 tokens", q16, "ms (median)");
  std::printf("%-52s %14.1f %14s\n", "embedder BERT-base: 8 blocks x 288 tokens", blocks8, "ms (median)");
  std::printf("%-52s %14.1f %14s\n", "embedder BERT-base: block throughput", 8000.0 / blocks8, "blocks/s");
  std::printf("%-52s %14.1f %14s\n", "reader BERT-base: 5 blocks x 288 tokens", read5, "ms (median)");
  double flops = 2.0 * 5 * 288 * (12 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 288 * 768 * 12);
  std::printf("%-52s %14.1f %14s\n", "reader BERT-base: achieved", flops / (read5 / 1000) / 1e9, "GFLOP/s");
  return 0;
}
