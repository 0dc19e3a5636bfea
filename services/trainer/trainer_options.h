#pragma once

#include <string>
#include <vector>

#include "common/infra/compute_threads.h"
#include "common/infra/path_roots.h"
#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-trainer, filled from flags in main.cc.
struct TrainerOptions {
  ServerOptions server;
  /// TLS to the retriever shards (--backend-tls-*).
  TlsCalling backend_tls;
  /// Directory for the persisted job table (created if missing).
  std::string state_dir = "orqa-trainer-state";
  /// Retriever shard addresses (host:port), shard i at position i: training
  /// searches every shard and merges exactly, as the gateway does.
  std::vector<std::string> retriever_addresses = {"127.0.0.1:50052"};
  /// Jobs that may wait behind the running one; more is RESOURCE_EXHAUSTED.
  int queue_limit = 16;
  /// --threads of a running job and its per-library overrides
  /// (common/infra/compute_threads.h; 1 = bit-reproducible runs).
  ComputeThreads threads;
  /// Tries of a failed retriever call (UNAVAILABLE) before the job fails.
  int retriever_attempts = 4;
  /// Folders that paths in requests (Reload, StartJob) must lie in.
  PathRoots roots;
};

}  // namespace orqa
