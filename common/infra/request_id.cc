#include "common/infra/request_id.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/interceptor.h>

#include <chrono>
#include <cstdio>
#include <random>


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

class RequestIdInterceptor : public grpc::experimental::Interceptor {
 public:
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
    methods->Proceed();
  }

 private:
  std::string id_;
};

class RequestIdInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo*) override {
    return new RequestIdInterceptor();
  }
};

}  // namespace

std::string RequestIdOf(const grpc::ServerContextBase& context) {
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

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRequestIdInterceptorFactory() {
  return std::make_unique<RequestIdInterceptorFactory>();
}

}  // namespace orqa
