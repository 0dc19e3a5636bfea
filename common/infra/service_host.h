#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/infra/metrics.h"
#include "common/infra/server_options.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc
namespace httplib {
class Server;
}  // namespace httplib

namespace orqa {

/// Blocks SIGTERM and SIGINT in the calling thread, so every thread created
/// afterwards inherits the mask and ServiceHost::Wait() receives them with
/// sigwait. Call first thing in main().
void BlockTerminationSignals();

/// Runs one service process: a gRPC server (with grpc.health.v1, server
/// reflection and per-RPC metrics) and a /metrics HTTP endpoint; on SIGTERM or
/// SIGINT it stops accepting calls, lets in-flight ones finish for the grace
/// period, and returns.
class ServiceHost {
 public:
  ServiceHost(std::string service_name, ServerOptions options);
  ~ServiceHost();

  Metrics& metrics() { return metrics_; }

  /// Services to serve; must outlive the host. Call before Start().
  void AddService(grpc::Service* service);

  /// Binds both ports; fails with a message naming the address when a port is
  /// taken. Health starts NOT_SERVING for every registered name.
  absl::Status Start();

  /// Sets the health of `service_name` ("" is the whole server).
  void SetServing(const std::string& service_name, bool serving);

  /// Blocks until SIGTERM/SIGINT, then drains and stops.
  void Wait();

  /// Called once, on the signal, before draining starts (e.g. to tell a
  /// running job to checkpoint and to end long-lived streams). Set before Wait().
  void OnStopping(std::function<void()> fn) { on_stopping_ = std::move(fn); }

  /// Messages of failures worth tracing end with " (request id ID)" (the
  /// gateway: what clients see; see request_id.h). Call before Start().
  void ErrorsCarryRequestId() { errors_carry_request_id_ = true; }

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }

 private:
  std::string name_;
  ServerOptions options_;
  Metrics metrics_;
  std::vector<grpc::Service*> services_;
  std::mutex server_mu_;  // SetServing may run on other threads while Wait() tears down
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::function<void()> on_stopping_;
  bool stopping_ = false;  // guarded by server_mu_: set once Wait() begins tearing down
  bool errors_carry_request_id_ = false;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace orqa
