#include "common/infra/request_id.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/interceptor.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/infra/metrics.h"

namespace orqa {
namespace {

using grpc::experimental::InterceptionHookPoints;

bool IsHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

std::string Lookup(const std::multimap<grpc::string_ref, grpc::string_ref>& md, const char* key) {
  auto it = md.find(key);
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

// Failures a client reports to the operator, who then follows the id through
// the logs; a caller's own mistake (INVALID_ARGUMENT, UNAUTHENTICATED, ...) is
// explained by its message alone, which stays exactly as documented.
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

bool ServerSideFailure(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DATA_LOSS;
}

class RequestIdInterceptor : public grpc::experimental::Interceptor {
 public:
  RequestIdInterceptor(std::string method, bool errors_carry_id)
      : method_(std::move(method)), errors_carry_id_(errors_carry_id), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      id_ = Lookup(*md, kRequestIdKey);
      if (!IsValidRequestId(id_)) {
        if (!id_.empty()) md->erase(kRequestIdKey);  // not kept: a new one replaces it
        id_ = TraceIdOfTraceparent(Lookup(*md, "traceparent"));
        if (id_.empty()) id_ = NewRequestId();
        // The handler reads it back through ServerContext::client_metadata()
        // (this map); the strings live as long as this interceptor (the call).
        md->insert({grpc::string_ref(kRequestIdKey), grpc::string_ref(id_)});
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA) && !id_.empty()) {
      methods->GetSendInitialMetadata()->insert({kRequestIdKey, id_});
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
      const std::string code = GrpcCodeName(status.error_code());
      if (ServerSideFailure(status.error_code())) {
        spdlog::warn("rpc {} {} {:.1f} ms request_id={}: {}", method_, code, ms, id_, status.error_message());
      } else {
        spdlog::debug("rpc {} {} {:.1f} ms request_id={}", method_, code, ms, id_);
      }
      if (errors_carry_id_ && WorthTracing(status.error_code()) && !id_.empty()) {
        methods->ModifySendStatus(grpc::Status(status.error_code(),
                                               absl::StrCat(status.error_message(), " (request id ", id_, ")"),
                                               status.error_details()));
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  bool errors_carry_id_;
  std::chrono::steady_clock::time_point start_;
  std::string id_;
};

class RequestIdInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RequestIdInterceptorFactory(bool errors_carry_id) : errors_carry_id_(errors_carry_id) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RequestIdInterceptor(info->method() ? info->method() : "unknown", errors_carry_id_);
  }

 private:
  bool errors_carry_id_;
};

}  // namespace

std::string RequestIdOf(const grpc::ServerContext& context) {
  return Lookup(context.client_metadata(), kRequestIdKey);
}

void ForwardRequestId(const grpc::ServerContext& from, grpc::ClientContext* to) {
  const std::string id = RequestIdOf(from);
  if (!id.empty()) to->AddMetadata(kRequestIdKey, id);
}

std::unique_ptr<grpc::ClientContext> BackendContext(const grpc::ServerContext& server) {
  auto ctx = grpc::ClientContext::FromServerContext(server);
  ForwardRequestId(server, ctx.get());
  return ctx;
}

bool IsValidRequestId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string TraceIdOfTraceparent(const std::string& tp) {
  // version "00": 2 + 1 + 32 + 1 + 16 + 1 + 2 characters
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return "";
  const std::string trace = tp.substr(3, 32);
  if (!IsHex(tp.substr(0, 2)) || !IsHex(trace) || trace == std::string(32, '0') || !IsHex(tp.substr(36, 16))) {
    return "";
  }
  return trace;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRequestIdInterceptorFactory(
    bool errors_carry_id) {
  return std::make_unique<RequestIdInterceptorFactory>(errors_carry_id);
}

}  // namespace orqa
