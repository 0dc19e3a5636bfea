#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fetch/model_source.h"
#include "common/index/block_store.h"
#include "common/index/embeddings.h"
#include "common/train/block_embedding.h"
#include "common/infra/cpu_level.h"
#include "common/infra/compute_threads.h"
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
  int batch_size = 16, max_length = 288, shard_index = 0, num_shards = 1;
  ComputeThreads threads;
  FlagSet flags(kCmd, "Embeds every block of a block store with the REALM embedder into a float32 .npy.");
  flags.String("model", &model_dir, "Embedder model directory (config.json, vocab.txt, weights), or a Hugging Face model id.");
  flags.String("weights", &weights, "Weights file (default: model.safetensors / pytorch_model.bin in --model).");
  flags.String("blocks", &blocks_path, "Block store (orqa build-blocks).");
  flags.String("out", &out, "Output .npy; an interrupted run resumes from OUT.partial.");
  flags.Int("batch-size", &batch_size, "Blocks per forward pass.");
  flags.Int("max-length", &max_length, "Tokens per block: [CLS] title [SEP] text [SEP] (288 in REALM).");
  AddComputeThreadFlags(flags, &threads, /*with_search=*/false, /*every_core_by_default=*/true);
  flags.Int("shard-index", &shard_index,
            "Embed only this shard's blocks (the rows orqa-retriever --shard-index serves); "
            "that retriever then loads the shard's file directly.");
  flags.Int("num-shards", &num_shards, "Number of contiguous block-id shards.");
  std::string precision_name = "fp32";
  flags.String("precision", &precision_name, "Encoder arithmetic: fp32 (matches the reference), bf16 or int8.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  Precision precision = Precision::kFP32;
  if (absl::Status st = ParsePrecisionFlag(precision_name, &precision); !st.ok()) return ReportFatal(kCmd, st, 2);
  if (model_dir.empty() || blocks_path.empty() || out.empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--model, --blocks and --out are required"), 2);
  }
  if (batch_size < 1 || max_length < 8) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--batch-size >= 1, --max-length >= 8"), 2);
  }
  ResolveEveryCore(&threads);
  if (auto st = ValidateComputeThreads(threads); !st.ok()) return ReportFatal(kCmd, st, 2);
  if (auto st = ValidateCpuLevelCaps(); !st.ok()) return ReportFatal(kCmd, st, 2);
  if (num_shards < 1 || shard_index < 0 || shard_index >= num_shards) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat("--shard-index: expected 0..", num_shards - 1,
                                                                     " for --num-shards ", num_shards, ", got ",
                                                                     shard_index)), 2);
  }
  ApplyComputeThreads(threads);
  auto resolved = ResolveModelPath(model_dir, "--model");
  if (!resolved.ok()) return ReportFatal(kCmd, resolved.status());
  auto embedder = TextEmbedder::Load(*resolved, weights, precision);
  if (!embedder.ok()) return ReportFatal(kCmd, embedder.status());
  auto store = BlockStore::Open(blocks_path);
  if (!store.ok()) return ReportFatal(kCmd, store.status());
  const auto range = CheckedShardRange((*store)->size(), shard_index, num_shards);
  if (!range.ok()) return ReportFatal(kCmd, range.status(), 2);
  const auto [begin, end] = *range;
  const int64_t n = end - begin, dim = (*embedder)->dim();
  EmbedBlocksOptions options;
  options.begin = begin;
  options.end = end;
  options.batch_size = batch_size;
  options.max_length = max_length;
  Progress progress("embedded blocks", n);
  int64_t resumed = 0;
  bool first = true;
  absl::Status st = EmbedBlocksToNpy(**embedder, **store, options, out, [&](int64_t done, int64_t) {
    if (first) {
      first = false;
      if (resumed > 0) {
        std::fprintf(stderr, "resuming %s.partial at block %lld of %lld\n", out.c_str(),
                     static_cast<long long>(resumed), static_cast<long long>(n));
      }
      progress.Resume(resumed);
    }
    progress.Update(done);
    return true;
  }, &resumed);
  if (!st.ok()) return ReportFatal(kCmd, st);
  progress.Done(n);
  std::printf("wrote %lld x %lld embeddings to %s (blocks %lld..%lld, embedder %s)\n", static_cast<long long>(n),
              static_cast<long long>(dim), out.c_str(), static_cast<long long>(begin),
              static_cast<long long>(end - 1), (*embedder)->version().c_str());
  return 0;
}

}  // namespace orqa::cli
