#include "common/infra/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace orqa {

Metrics::Metrics(std::string service)
    : service_(std::move(service)), registry_(std::make_shared<prometheus::Registry>()) {
  handled_ = &prometheus::BuildCounter()
                  .Name("orqa_grpc_server_handled_total")
                  .Help("RPCs completed on the server, by method and status code.")
                  .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("orqa_grpc_server_handling_seconds")
                  .Help("Time from the start of an RPC to its status, in seconds.")
                  .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("orqa_grpc_server_in_flight")
                    .Help("RPCs started on the server and not yet finished.")
                    .Register(*registry_)
                    .Add({{"service", service_}});
  serving_ = &prometheus::BuildGauge()
                  .Name("orqa_serving")
                  .Help("1 while the service's gRPC health is SERVING, else 0 (loading, a backend down, draining).")
                  .Register(*registry_)
                  .Add({{"service", service_}});
  prometheus::BuildGauge()
      .Name("orqa_build_info")
      .Help("Always 1; labels carry the service and orqa version.")
      .Register(*registry_)
      .Add({{"service", service_}, {"version", ORQA_VERSION}})
      .Set(1);
}

std::vector<double> Metrics::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,   0.5,   1,      2.5,   5,    10,   30,   60};
}

void Metrics::CallStarted() {
  ++active_calls_;
  in_flight_->Increment();
}

void Metrics::CallFinished() {
  --active_calls_;
  in_flight_->Decrement();
}

void Metrics::ObserveRpc(const std::string& method, const std::string& code_name,
                         double seconds) {
  handled_->Add({{"service", service_}, {"method", method}, {"code", code_name}}).Increment();
  latency_->Add({{"service", service_}, {"method", method}}, LatencyBuckets()).Observe(seconds);
}

std::string Metrics::Serialize() const {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, registry_->Collect());
  return os.str();
}

std::string GrpcCodeName(int code) {
  static const char* kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code < 0 || code > 16) return "UNKNOWN";
  return kNames[code];
}

}  // namespace orqa
