#pragma once

#include <string>

#include "common/batching/batcher.h"
#include "common/infra/compute_threads.h"
#include "common/infra/path_roots.h"
#include "common/infra/server_options.h"
#include "common/model/precision.h"

namespace orqa {

/// Options of orqa-reader, filled from flags in main.cc.
struct ReaderOptions {
  ServerOptions server;
  /// Reader model directory (config.json, vocab.txt, weights).
  std::string model_dir;
  /// Weights file; empty looks for model.safetensors / pytorch_model.bin in model_dir.
  std::string weights_path;
  /// Dynamic batching: most Read calls per forward pass, longest wait, queue limit.
  BatcherOptions batching;
  /// Most rows per batch and per forward pass; 0 = DefaultMaxReaderRows of the model.
  int max_batch_rows = 0;
  /// The encoder's dense layers: fp32, bf16 or int8 (also for models Reload loads).
  Precision precision = Precision::kFP32;
  /// --threads and its per-library overrides (common/infra/compute_threads.h).
  ComputeThreads threads;
  /// Folders that paths in requests (Reload, StartJob) must lie in.
  PathRoots roots;
};

}  // namespace orqa
