#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

namespace orqa {

/// A request whose proto3 string field is not valid UTF-8 fails to parse
/// inside gRPC, which answers INTERNAL with no message. This interceptor
/// factory turns that into INVALID_ARGUMENT naming the field, e.g.
/// "question: not valid UTF-8 (orqa.v1.AnswerRequest.question)". The field
/// comes from protobuf's parse error, which it logs on the thread that
/// parsed the request (the sync server's handler thread); the factory
/// installs a protobuf log handler that records it there and passes every
/// other protobuf message on to spdlog.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeUtf8RequestErrorInterceptorFactory();

/// The field named by a protobuf "invalid UTF-8" log line ("" if it is not one).
std::string InvalidUtf8FieldOf(const std::string& protobuf_log_message);

}  // namespace orqa
