#include "common/infra/rpc_metrics_interceptor.h"

#include <grpcpp/support/interceptor.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/infra/request_id.h"

namespace orqa {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Failures the server owns or a client reports to the operator, who then
// follows the request id through the logs. A caller's own mistake
// (INVALID_ARGUMENT, UNAUTHENTICATED, NOT_FOUND, ...) is explained by its
// message alone, which stays exactly as documented.
bool WorthTracing(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
      return true;
    default:
      return false;
  }
}

// Calls refused or dropped for load: counted (orqa_grpc_server_handled_total,
// the OrqaShedding alert), logged at debug — a warning each would flood the
// log exactly when the service is overloaded.
bool Overload(grpc::StatusCode code) {
  return code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(Metrics* metrics, grpc::experimental::ServerRpcInfo* info, bool errors_carry_id)
      : metrics_(metrics),
        info_(info),
        method_(info->method() ? info->method() : "unknown"),
        errors_carry_id_(errors_carry_id),
        start_(std::chrono::steady_clock::now()) {
    metrics_->CallStarted();
  }
  ~RpcMetricsInterceptor() override { metrics_->CallFinished(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // The last interceptor: the status here is the one the client gets.
      const grpc::Status status = methods->GetSendStatus();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      const std::string code = GrpcCodeName(status.error_code());
      metrics_->ObserveRpc(method_, code, seconds);
      const std::string id = info_->server_context() ? RequestIdOf(*info_->server_context()) : "";
      const bool trace = WorthTracing(status.error_code());
      if (trace && !Overload(status.error_code())) {
        spdlog::warn("rpc {} {} {:.1f} ms request_id={}: {}", method_, code, seconds * 1e3, id,
                     status.error_message());
      } else {
        spdlog::debug("rpc {} {} {:.1f} ms request_id={}", method_, code, seconds * 1e3, id);
      }
      if (trace && errors_carry_id_ && !id.empty()) {
        methods->ModifySendStatus(grpc::Status(status.error_code(),
                                               absl::StrCat(status.error_message(), " (request id ", id, ")"),
                                               status.error_details()));
      }
    }
    methods->Proceed();
  }

 private:
  Metrics* metrics_;
  grpc::experimental::ServerRpcInfo* info_;
  std::string method_;
  bool errors_carry_id_;
  std::chrono::steady_clock::time_point start_;
};

class RpcMetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsInterceptorFactory(Metrics* metrics, bool errors_carry_id)
      : metrics_(metrics), errors_carry_id_(errors_carry_id) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(metrics_, info, errors_carry_id_);
  }

 private:
  Metrics* metrics_;
  bool errors_carry_id_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptorFactory(
    Metrics* metrics, bool errors_carry_id) {
  return std::make_unique<RpcMetricsInterceptorFactory>(metrics, errors_carry_id);
}

}  // namespace orqa
