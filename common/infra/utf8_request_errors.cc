#include "common/infra/utf8_request_errors.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The string field whose UTF-8 check failed last on this thread.
thread_local std::string t_invalid_field;

void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  std::string field = InvalidUtf8FieldOf(message);
  if (!field.empty()) {
    t_invalid_field = std::move(field);
    return;  // answered to the client; not a server problem
  }
  if (level >= google::protobuf::LOGLEVEL_ERROR) {
    spdlog::error("protobuf {}:{}: {}", file, line, message);
  } else {
    spdlog::warn("protobuf {}:{}: {}", file, line, message);
  }
}

class Utf8RequestErrorInterceptor : public grpc::experimental::Interceptor {
 public:
  Utf8RequestErrorInterceptor() { t_invalid_field.clear(); }  // created before the request is parsed
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::INTERNAL && !t_invalid_field.empty()) {
        const std::string full = t_invalid_field;
        const size_t dot = full.rfind('.');
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat(dot == std::string::npos ? full : full.substr(dot + 1), ": not valid UTF-8 (", full, ")")));
      }
      t_invalid_field.clear();
    }
    methods->Proceed();
  }
};

class Utf8RequestErrorInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo*) override {
    return new Utf8RequestErrorInterceptor();
  }
};

}  // namespace

std::string InvalidUtf8FieldOf(const std::string& message) {
  // protobuf: "String field 'pkg.Message.field' contains invalid UTF-8 data when parsing a protocol buffer. ..."
  static const std::string kHead = "String field '";
  const size_t a = message.find(kHead);
  if (a == std::string::npos || message.find("invalid UTF-8 data when parsing") == std::string::npos) return "";
  const size_t b = message.find('\'', a + kHead.size());
  if (b == std::string::npos) return "";
  return message.substr(a + kHead.size(), b - a - kHead.size());
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeUtf8RequestErrorInterceptorFactory() {
  static std::once_flag once;
  std::call_once(once, [] { google::protobuf::SetLogHandler(&ProtobufLog); });
  return std::make_unique<Utf8RequestErrorInterceptorFactory>();
}

}  // namespace orqa
