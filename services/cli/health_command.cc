#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>

#include "common/infra/tls.h"
#include "absl/strings/str_cat.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/cli/commands.h"

namespace orqa::cli {

int RunHealth(int argc, char** argv) {
  std::string service;
  int timeout_ms = 2000;
  FlagSet flags("orqa health ADDRESS", "Checks a service's grpc.health.v1 status.");
  flags.String("service", &service, "Service name to check; empty checks the whole server.");
  flags.Int("timeout-ms", &timeout_ms, "Deadline of the check, in milliseconds.");
  TlsCalling tls;
  AddClientTlsFlags(flags, &tls);
  if (auto code = ParseFlagsOrExit(flags, argc, argv, "orqa health")) return *code;
  if (flags.positional().size() != 1) {
    return ReportFatal("orqa health", absl::InvalidArgumentError("expected one ADDRESS (host:port)"), 2);
  }
  if (timeout_ms <= 0) {
    return ReportFatal("orqa health", absl::InvalidArgumentError("--timeout-ms: expected > 0"), 2);
  }
  if (absl::Status st = ValidateTlsCalling(tls, "--tls-"); !st.ok()) return ReportFatal("orqa health", st, 2);
  const std::string& address = flags.positional()[0];
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, MakeChannelCredentials(tls)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) {
    return ReportFatal("orqa health", absl::UnavailableError(absl::StrCat(
        address, ": ", st.error_message(), " (code ", st.error_code(), ")")));
  }
  std::printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace orqa::cli
