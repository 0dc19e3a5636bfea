#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace orqa::testing {

/// grpc.health.v1 Check over a fresh channel (a channel that once failed to
/// connect backs off for seconds, so probes never reuse one).
/// `credentials`: TLS for a service started with --tls-cert (default plaintext).
inline grpc::Status CheckHealth(const std::string& address, grpc::health::v1::HealthCheckResponse* response,
                                std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                                std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
  if (!credentials) credentials = grpc::InsecureChannelCredentials();
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  return stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), response);
}

/// True when the server at `address` answers SERVING.
inline bool IsServing(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
  grpc::health::v1::HealthCheckResponse resp;
  return CheckHealth(address, &resp, std::chrono::milliseconds(500), std::move(credentials)).ok() &&
         resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

}  // namespace orqa::testing
