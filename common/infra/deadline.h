#pragma once

#include <grpcpp/server_context.h>

#include <chrono>

namespace orqa {

/// The client's deadline as a steady-clock time point (24 h away when the
/// client set none), for queues that drop requests whose deadline passed.
inline std::chrono::steady_clock::time_point SteadyDeadline(const grpc::ServerContext& ctx) {
  const auto remaining = ctx.deadline() - std::chrono::system_clock::now();
  if (ctx.deadline() == std::chrono::system_clock::time_point::max() || remaining > std::chrono::hours(24)) {
    return std::chrono::steady_clock::now() + std::chrono::hours(24);
  }
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(remaining);
}

}  // namespace orqa
