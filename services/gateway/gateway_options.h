#pragma once

#include <string>
#include <vector>

#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-gateway, filled from flags in main.cc.
struct GatewayOptions {
  ServerOptions server;
  /// Retriever shard addresses (host:port), shard i at position i.
  std::vector<std::string> retriever_addresses;
  /// Reader address (host:port).
  std::string reader_address;
  /// Trainer address (host:port).
  std::string trainer_address;
  /// Token the Admin service requires as "authorization: Bearer <token>";
  /// empty disables Admin calls altogether (PERMISSION_DENIED).
  std::string admin_token;
  /// Blocks retrieved per question when a request leaves k at 0.
  int default_k = 5;
};

}  // namespace orqa
