#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// A float32 [rows, dim] block-embedding matrix, usually a zero-copy view of a
/// memory-mapped file.
struct EmbeddingMatrix {
  TensorView view;  // dtype F32, shape [rows, dim], C order
  int64_t rows() const { return view.shape[0]; }
  int64_t dim() const { return view.shape[1]; }
  const float* data() const { return reinterpret_cast<const float*>(view.data); }
};

/// Opens block embeddings from `.npy` (float32 or float16), `.safetensors`
/// (tensor `block_emb`, or the only 2-D tensor), a PyTorch zip checkpoint
/// (`block_emb`), or a TF checkpoint prefix/`.index` (`block_emb`, as in
/// ORQA's encoded.ckpt). float16 is widened into a buffer; float32 stays
/// mapped. Errors name the file and what was expected.
absl::StatusOr<EmbeddingMatrix> OpenEmbeddings(const std::string& path);

/// Rows [begin, end) of `m` as a view (no copy).
EmbeddingMatrix SliceRows(const EmbeddingMatrix& m, int64_t begin, int64_t end);

/// Row range [begin, end) of shard `index` of `num_shards` over `rows` rows:
/// contiguous, sizes differing by at most one.
std::pair<int64_t, int64_t> ShardRange(int64_t rows, int index, int num_shards);

/// ShardRange after checking that `rows` can make `num_shards` non-empty
/// shards (INVALID_ARGUMENT "N blocks cannot make K shards" otherwise) and
/// that `index` is one of them.
absl::StatusOr<std::pair<int64_t, int64_t>> CheckedShardRange(int64_t rows, int index, int num_shards);

/// Writes `m` as a float32 .npy, streaming in chunks so a mapped source is
/// never held twice in memory; written to a temporary file and renamed.
absl::Status WriteEmbeddingsNpy(const EmbeddingMatrix& m, const std::string& path,
                                const std::function<void(int64_t rows_done)>& progress = nullptr);

}  // namespace orqa
