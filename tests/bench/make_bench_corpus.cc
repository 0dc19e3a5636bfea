// Writes a corpus of any size for end-to-end benchmarks (not a test): a block
// store of N blocks and N random 128-d block embeddings (.npy, streamed).
// Block i's text is a window of at least --min-chars characters of the source
// paragraphs run together (starting at paragraph i mod P, cut at a word
// boundary), so every block fills the reader's rows as real REALM blocks do.
//   make_bench_corpus --source blocks.jsonl --rows N --blocks-out F --embeddings-out F
//                     [--min-chars 1300] [--dim 128] [--seed 1]
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common/index/block_store.h"
#include "tests/bench/random_npy.h"
#include "nlohmann/json.hpp"

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "make_bench_corpus: error: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string source, blocks_out, embeddings_out;
  int64_t rows = 0;
  size_t min_chars = 1300;
  int dim = 128;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--source") source = v;
    else if (f == "--rows") rows = std::stoll(v);
    else if (f == "--blocks-out") blocks_out = v;
    else if (f == "--embeddings-out") embeddings_out = v;
    else if (f == "--min-chars") min_chars = std::stoul(v);
    else if (f == "--dim") dim = std::stoi(v);
    else if (f == "--seed") seed = std::stoull(v);
    else return Fail("unknown flag " + f);
  }
  if (source.empty() || rows < 1 || blocks_out.empty() || embeddings_out.empty()) {
    return Fail("--source, --rows (>= 1), --blocks-out and --embeddings-out are required");
  }
  std::vector<std::string> paragraphs;
  std::ifstream in(source);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("text")) return Fail(source + ": a line is not a JSON object with \"text\"");
    paragraphs.push_back(j["text"].get<std::string>());
  }
  if (paragraphs.empty()) return Fail(source + ": no paragraphs");

  auto writer = orqa::BlockStoreWriter::Create(blocks_out);
  if (!writer.ok()) return Fail(std::string(writer.status().message()));
  std::string text;
  for (int64_t i = 0; i < rows; ++i) {
    text.clear();
    for (size_t p = static_cast<size_t>(i % static_cast<int64_t>(paragraphs.size())); text.size() < min_chars;
         p = (p + 1) % paragraphs.size()) {
      if (!text.empty()) text += ' ';
      text += paragraphs[p];
    }
    const size_t cut = text.find(' ', min_chars);
    if (cut != std::string::npos) text.resize(cut);
    absl::Status st = (*writer)->Add("Block " + std::to_string(i), text);
    if (!st.ok()) return Fail(std::string(st.message()));
  }
  absl::Status st = (*writer)->Finish();
  if (!st.ok()) return Fail(std::string(st.message()));

  if (!orqa::bench::WriteRandomNpy(embeddings_out, rows, dim, seed)) return Fail("writing " + embeddings_out + " failed");
  std::printf("wrote %lld blocks (at least %zu characters each) to %s and their %d-d embeddings to %s\n",
              static_cast<long long>(rows), min_chars, blocks_out.c_str(), dim, embeddings_out.c_str());
  return 0;
}
