#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace orqa {

/// Where the prepared form of `source` is kept: beside the Hugging Face
/// cache's blob when `source` resolves to one
/// (models--org--name/orqa/<etag>.<suffix>, removed with the repo by
/// huggingface-cli delete-cache), else
/// $XDG_CACHE_HOME/orqa/prepared/<file>-<crc of path, size, mtime>.<suffix>.
std::string PreparedPath(const std::string& source, const std::string& suffix);

/// The block records a model directory carries (block_records.npy as on the
/// Hub, else blocks.tfr, else blocks.jsonl), or "" when it has none.
std::string BlockRecordsIn(const std::string& model_dir);

/// A block store built from `records` on first use and kept at
/// PreparedPath(records, "blocks"); later calls (and other processes, under
/// a file lock) get it at once. `log` hears what is being built and how long
/// it took.
absl::StatusOr<std::string> PreparedBlocks(const std::string& records,
                                           const std::function<void(const std::string&)>& log);

/// Block embeddings the retriever maps: `weights` itself when it is a
/// PyTorch or safetensors file (block_emb is mapped in place, no copy); a
/// TensorFlow checkpoint's block_emb (encoded.ckpt) as a float32 .npy made on
/// first use and kept at PreparedPath(<prefix>.index, "block_emb.npy").
absl::StatusOr<std::string> PreparedEmbeddings(const std::string& weights,
                                               const std::function<void(const std::string&)>& log);

}  // namespace orqa
