#pragma once

#include <string>

#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-trainer, filled from flags in main.cc.
struct TrainerOptions {
  ServerOptions server;
  /// Directory for the persisted job table and checkpoints (created if missing).
  std::string state_dir = "orqa-trainer-state";
  /// Retriever address used to search during training (host:port).
  std::string retriever_address = "127.0.0.1:50052";
};

}  // namespace orqa
