#pragma once

#include <string>

#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-retriever, filled from flags in main.cc.
struct RetrieverOptions {
  ServerOptions server;
  /// Embedder model directory (config.json, vocab.txt, model.safetensors).
  std::string model_dir;
  /// Block store file built by `orqa build-blocks`.
  std::string blocks_path;
  /// Block embeddings (.safetensors or .npy), float32 [num_blocks, proj_size].
  std::string embeddings_path;
  /// This process serves shard `shard_index` of `num_shards` contiguous id ranges.
  int shard_index = 0;
  int num_shards = 1;
  /// Searcher: flat, fp16, sq8, hnsw, ivf or torch.
  std::string index_type = "flat";
  /// Threads for OpenMP (FAISS), OpenBLAS and LibTorch intra-op work.
  int omp_threads = 1;
  int openblas_threads = 1;
  int torch_threads = 1;
};

}  // namespace orqa
