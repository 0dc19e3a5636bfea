#pragma once

#include <string>

#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-reader, filled from flags in main.cc.
struct ReaderOptions {
  ServerOptions server;
  /// Reader model directory (config.json, vocab.txt, model.safetensors).
  std::string model_dir;
  /// Most requests run in one forward pass.
  int max_batch_size = 8;
  /// Longest a request waits for others to join its batch, in milliseconds.
  double max_queue_delay_ms = 2.0;
  /// Requests queued beyond this are refused with RESOURCE_EXHAUSTED.
  int queue_limit = 256;
  /// LibTorch intra-op threads.
  int torch_threads = 1;
};

}  // namespace orqa
