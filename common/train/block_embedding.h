#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace orqa {

class BlockStore;
class TextEmbedder;

/// What to embed and how.
struct EmbedBlocksOptions {
  /// Blocks [begin, end) of the store; end < 0 means to the last block.
  int64_t begin = 0;
  int64_t end = -1;
  /// Blocks per forward pass.
  int batch_size = 16;
  /// Tokens per block: [CLS] title [SEP] text [SEP] (288 in REALM).
  int max_length = 288;
};

/// Called after every batch with (rows done, rows in all); returning false
/// stops the run (the partial file is kept and a later run resumes it).
using EmbedProgress = std::function<bool(int64_t done, int64_t total)>;

/// Embeds blocks into a float32 .npy at `out` [rows, dim]. Rows are appended
/// to `out.partial`, flushed after each batch; an existing partial file of the
/// same shape is resumed, one of another shape is an error naming it. The
/// final file appears atomically. Returns CANCELLED when `progress` stopped it.
/// `resumed_from` (optional) gets the rows found in the partial file.
absl::Status EmbedBlocksToNpy(const TextEmbedder& embedder, const BlockStore& store, const EmbedBlocksOptions& options,
                              const std::string& out, const EmbedProgress& progress, int64_t* resumed_from = nullptr);

}  // namespace orqa
