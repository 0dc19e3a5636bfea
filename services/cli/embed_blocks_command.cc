#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/io/npy.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/infra/status_util.h"
#include "common/model/text_embedder.h"
#include "services/cli/commands.h"
#include "services/cli/progress.h"

namespace orqa::cli {
namespace {

constexpr char kCmd[] = "orqa embed-blocks";

}  // namespace

int RunEmbedBlocks(int argc, char** argv) {
  std::string model_dir, weights, blocks_path, out;
  int batch_size = 16, max_length = 288, threads = 1;
  FlagSet flags(kCmd, "Embeds every block of a block store with the REALM embedder into a float32 .npy.");
  flags.String("model", &model_dir, "Embedder model directory (config.json, vocab.txt, weights).");
  flags.String("weights", &weights, "Weights file (default: model.safetensors / pytorch_model.bin in --model).");
  flags.String("blocks", &blocks_path, "Block store (orqa build-blocks).");
  flags.String("out", &out, "Output .npy; an interrupted run resumes from OUT.partial.");
  flags.Int("batch-size", &batch_size, "Blocks per forward pass.");
  flags.Int("max-length", &max_length, "Tokens per block: [CLS] title [SEP] text [SEP] (288 in REALM).");
  flags.Int("threads", &threads, "LibTorch intra-op threads.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (model_dir.empty() || blocks_path.empty() || out.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--model, --blocks and --out are required"), 2);
  }
  if (batch_size < 1 || max_length < 8 || threads < 1) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--batch-size >= 1, --max-length >= 8, --threads >= 1"), 2);
  }
  torch::set_num_threads(threads);
  auto embedder = TextEmbedder::Load(model_dir, weights);
  if (!embedder.ok()) return ReportFatal(kCmd, embedder.status());
  auto store = BlockStore::Open(blocks_path);
  if (!store.ok()) return ReportFatal(kCmd, store.status());
  const int64_t n = (*store)->size(), dim = (*embedder)->dim();
  const std::string header = NpyFloat32Header(n, dim);
  const std::string partial = out + ".partial";

  // Resume: the partial file is the final .npy minus its missing rows.
  int64_t done = 0;
  struct stat st;
  std::FILE* f = nullptr;
  if (stat(partial.c_str(), &st) == 0 && st.st_size >= static_cast<off_t>(header.size())) {
    f = std::fopen(partial.c_str(), "r+b");
    std::string existing(header.size(), '\0');
    if (!f || std::fread(existing.data(), 1, header.size(), f) != header.size() || existing != header) {
      if (f) std::fclose(f);
      return ReportFatal(kCmd, absl::FailedPreconditionError(absl::StrCat(
                                   partial, " belongs to another run (different block count or dimension); remove it")));
    }
    done = (st.st_size - static_cast<off_t>(header.size())) / (dim * 4);
    if (truncate(partial.c_str(), header.size() + done * dim * 4) != 0 ||
        std::fseek(f, static_cast<long>(header.size() + done * dim * 4), SEEK_SET) != 0) {
      std::fclose(f);
      return ReportFatal(kCmd, absl::DataLossError(absl::StrCat(partial, ": cannot resume: ", std::strerror(errno))));
    }
    std::fprintf(stderr, "resuming %s at block %lld of %lld\n", partial.c_str(), static_cast<long long>(done),
                 static_cast<long long>(n));
  } else {
    f = std::fopen(partial.c_str(), "wb");
    if (!f || std::fwrite(header.data(), 1, header.size(), f) != header.size()) {
      return ReportFatal(kCmd, absl::PermissionDeniedError(absl::StrCat(partial, ": cannot write")));
    }
  }
  Progress progress("embedded blocks", n);
  progress.Resume(done);
  for (int64_t b = done; b < n; b += batch_size) {
    std::vector<std::string> titles, texts;
    for (int64_t i = b; i < std::min(n, b + batch_size); ++i) {
      auto title = (*store)->Title(i);
      auto text = (*store)->Text(i);
      if (!title.ok() || !text.ok()) {
        std::fclose(f);
        return ReportFatal(kCmd, title.ok() ? text.status() : title.status());
      }
      titles.emplace_back(*title);
      texts.emplace_back(*text);
    }
    std::vector<float> v = (*embedder)->EmbedBlocks(titles, texts, max_length);
    if (std::fwrite(v.data(), sizeof(float), v.size(), f) != v.size() || std::fflush(f) != 0) {
      std::fclose(f);
      return ReportFatal(kCmd, absl::DataLossError(absl::StrCat(partial, ": write failed: ", std::strerror(errno))));
    }
    progress.Update(b + static_cast<int64_t>(texts.size()));
  }
  progress.Done(n);
  if (absl::Status st = CommitFile(f, partial, out); !st.ok()) return ReportFatal(kCmd, st);
  std::printf("wrote %lld x %lld embeddings to %s (embedder %s)\n", static_cast<long long>(n),
              static_cast<long long>(dim), out.c_str(), (*embedder)->version().c_str());
  return 0;
}

}  // namespace orqa::cli
