#pragma once

#include <string>
#include <vector>

#include "common/infra/server_options.h"

namespace orqa {

/// Options of orqa-gateway, filled from flags in main.cc.
struct GatewayOptions {
  ServerOptions server;
  /// TLS to the retrievers, reader and trainer (--backend-tls-*).
  TlsCalling backend_tls;
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
  /// Retrieval when a request leaves it unspecified: "dense", "sparse" or "hybrid".
  std::string retrieval = "dense";
  /// Hybrid fusion: "rrf" (reciprocal rank) or "weighted" (min-max scores).
  std::string fusion = "rrf";
  /// Dense weight of weighted fusion; the c of reciprocal rank fusion.
  double fusion_weight = 0.5;
  double rrf_c = 60.0;
};

}  // namespace orqa
