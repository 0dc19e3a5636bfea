#pragma once

#include <string>

#include "absl/status/status.h"
#include "common/infra/flags.h"
#include "common/infra/tls.h"

namespace orqa {

/// Options every orqa service shares.
struct ServerOptions {
  /// Address the gRPC and metrics servers listen on.
  std::string host = "127.0.0.1";
  /// gRPC port; 0 picks a free one (logged at start).
  int grpc_port = 0;
  /// Port of the Prometheus /metrics HTTP endpoint; 0 picks a free one.
  int metrics_port = 0;
  /// Log line format: "text" or "json".
  std::string log_format = "text";
  /// spdlog level name.
  std::string log_level = "info";
  /// Seconds in-flight calls may take to finish after SIGTERM before they are cancelled.
  double grace_period_s = 10.0;
  /// TLS of the gRPC port (--tls-cert, --tls-key, --tls-client-ca).
  TlsServing tls;
};

/// Registers the shared flags (--host, --grpc-port, --metrics-port, --log-format,
/// --log-level, --grace-period-s, the --tls-* flags) with their ORQA_* environment fallbacks.
void AddServerFlags(FlagSet& flags, ServerOptions* options);

/// Checks ranges (ports 0..65535, grace ≥ 0) and the TLS files; names the offending flag.
absl::Status ValidateServerOptions(const ServerOptions& options);

/// OK if `path` names an existing readable file or directory, or a TensorFlow
/// checkpoint prefix (PATH.index readable); else an error naming `flag` and the path.
absl::Status CheckReadablePath(const std::string& flag, const std::string& path);

/// OK if `path` is a writable directory (created if missing).
absl::Status CheckWritableDir(const std::string& flag, const std::string& path);

}  // namespace orqa
