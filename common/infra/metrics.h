#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace orqa {

/// A service's Prometheus registry plus the RPC metrics every service has:
///   orqa_grpc_server_handled_total{service,method,code}
///   orqa_grpc_server_handling_seconds{service,method}  (histogram)
///   orqa_grpc_server_in_flight{service}  (RPCs started, not yet finished)
///   orqa_build_info{service,version} = 1
/// Service-specific families are added through registry().
class Metrics {
 public:
  explicit Metrics(std::string service);

  prometheus::Registry& registry() { return *registry_; }
  const std::string& service() const { return service_; }

  /// Records one finished RPC. `code_name` is the canonical gRPC code name (e.g. "OK").
  void ObserveRpc(const std::string& method, const std::string& code_name, double seconds);

  /// The registry in the Prometheus text exposition format.
  std::string Serialize() const;

  /// Default latency buckets, in seconds (0.5 ms .. 60 s).
  static std::vector<double> LatencyBuckets();

  /// An RPC started / finished: counts the calls in flight (the drain on
  /// SIGTERM waits for 0; an autoscaler can read the gauge).
  /// orqa_serving{service}: the whole server's health as a gauge (alerting).
  void SetServing(bool serving) { serving_->Set(serving ? 1 : 0); }
  void CallStarted();
  void CallFinished();
  int64_t active_calls() const { return active_calls_.load(); }

 private:
  std::string service_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* in_flight_;
  prometheus::Gauge* serving_;
  std::atomic<int64_t> active_calls_{0};
};

/// Canonical upper-case name of a gRPC status code number ("OK", "INVALID_ARGUMENT", ...).
std::string GrpcCodeName(int code);

}  // namespace orqa
