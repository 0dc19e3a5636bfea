#pragma once

#include <string>
#include <vector>

#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-trainer, filled from flags in main.cc.
struct TrainerOptions {
  ServerOptions server;
  /// Directory for the persisted job table (created if missing).
  std::string state_dir = "orqa-trainer-state";
  /// Retriever shard addresses (host:port), shard i at position i: training
  /// searches every shard and merges exactly, as the gateway does.
  std::vector<std::string> retriever_addresses = {"127.0.0.1:50052"};
  /// Jobs that may wait behind the running one; more is RESOURCE_EXHAUSTED.
  int queue_limit = 16;
  /// LibTorch intra-op threads of a running job (1 = bit-reproducible runs).
  int torch_threads = 1;
  /// Tries of a failed retriever call (UNAVAILABLE) before the job fails.
  int retriever_attempts = 4;
};

}  // namespace orqa
