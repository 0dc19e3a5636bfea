#pragma once

#include <string>

#include "common/batching/batcher.h"
#include "common/index/searcher.h"
#include "common/infra/compute_threads.h"
#include "common/infra/path_roots.h"
#include "common/infra/server_options.h"
#include "common/model/precision.h"

namespace orqa {

/// Options of orqa-retriever, filled from flags in main.cc.
struct RetrieverOptions {
  ServerOptions server;
  /// Embedder model directory (config.json, vocab.txt, weights).
  std::string model_dir;
  /// Embedder weights file; empty looks for model.safetensors / pytorch_model.bin in model_dir.
  std::string weights_path;
  /// Block store file built by `orqa build-blocks`.
  std::string blocks_path;
  /// Block embeddings (.npy, .safetensors, pytorch_model.bin, TF checkpoint).
  std::string embeddings_path;
  /// This process serves shard `shard_index` of `num_shards` contiguous id ranges.
  int shard_index = 0;
  int num_shards = 1;
  /// Searcher type and FAISS threads (index_type is SearcherOptions::type).
  SearcherOptions searcher;
  /// --threads and its per-library overrides (common/infra/compute_threads.h);
  /// searcher.omp_threads is threads.Omp().
  ComputeThreads threads;
  /// The question embedder's dense layers: fp32, bf16 or int8.
  Precision precision = Precision::kFP32;
  /// Dynamic batching of concurrent Retrieve calls.
  BatcherOptions batching;
  /// BM25 index over the same block store (orqa build-bm25); empty = dense only.
  std::string bm25_index;
  double bm25_k1 = 0.9;
  double bm25_b = 0.4;
  /// Folders that paths in requests (Reload, StartJob) must lie in.
  PathRoots roots;
};

}  // namespace orqa
