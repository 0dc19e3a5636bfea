#include "common/infra/server_options.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace orqa {

void AddServerFlags(FlagSet& flags, ServerOptions* o) {
  flags.String("host", &o->host, "Address to listen on (0.0.0.0 for all interfaces).");
  flags.Int("grpc-port", &o->grpc_port, "gRPC port; 0 picks a free port.");
  flags.Int("metrics-port", &o->metrics_port, "Prometheus /metrics HTTP port; 0 picks a free port.");
  flags.String("log-format", &o->log_format, "Log format: text or json (one object per line).");
  flags.String("log-level", &o->log_level, "Log level: trace, debug, info, warn, error.");
  flags.Double("grace-period-s", &o->grace_period_s,
               "Seconds in-flight calls get to finish after SIGTERM/SIGINT.");
  AddTlsServingFlags(flags, &o->tls);
}

absl::Status ValidateServerOptions(const ServerOptions& o) {
  if (o.host.empty()) return absl::InvalidArgumentError("--host must not be empty");
  if (o.grpc_port < 0 || o.grpc_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc-port: expected 0..65535, got ", o.grpc_port));
  }
  if (o.metrics_port < 0 || o.metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-port: expected 0..65535, got ", o.metrics_port));
  }
  if (o.grpc_port != 0 && o.grpc_port == o.metrics_port) {
    return absl::InvalidArgumentError("--grpc-port and --metrics-port must differ");
  }
  if (!(o.grace_period_s >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grace-period-s: expected a number >= 0, got ", o.grace_period_s));
  }
  return ValidateTlsServing(o.tls);
}

absl::Status CheckReadablePath(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty path"));
  if (access(path.c_str(), R_OK) != 0) {
    const int err = errno;
    if (access((path + ".index").c_str(), R_OK) == 0) return absl::OkStatus();  // a TF checkpoint prefix
    errno = err;
    return absl::NotFoundError(
        absl::StrCat(flag, ": cannot read '", path, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status CheckWritableDir(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty path"));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (mkdir(path.c_str(), 0755) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(flag, ": cannot create directory '", path, "': ", std::strerror(errno)));
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is not a directory"));
  }
  if (access(path.c_str(), W_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(flag, ": directory '", path, "' is not writable: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace orqa
