#pragma once

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>

namespace grpc {
class ClientContext;
class ServerContext;
class ServerContextBase;
}  // namespace grpc

namespace orqa {

/// One id per client request, through every hop and log line.
/// The metadata key every orqa service reads and sends: `x-request-id`.
inline constexpr char kRequestIdKey[] = "x-request-id";

/// The id of the call: its x-request-id (the server's interceptor puts one
/// there when the caller sent none: a W3C traceparent's trace id, else a new
/// random one). "" outside a call served by ServiceHost.
std::string RequestIdOf(const grpc::ServerContextBase& context);

/// Sends the call's id on a backend call made on its behalf.
void ForwardRequestId(const grpc::ServerContext& from, grpc::ClientContext* to);

/// ClientContext::FromServerContext (the deadline and cancellation reach the
/// backend) carrying the call's id.
std::unique_ptr<grpc::ClientContext> BackendContext(const grpc::ServerContext& server);

/// An id a caller may choose: 1–128 characters of [A-Za-z0-9._:-]. Others
/// are replaced by a new id (never rejected: an id is not worth a failed call).
bool IsValidRequestId(const std::string& id);
/// The 32-hex trace id of a W3C traceparent ("00-<trace id>-<span id>-<flags>"),
/// or "" when the header is not one.
std::string TraceIdOfTraceparent(const std::string& traceparent);
/// 16 random hex characters.
std::string NewRequestId();

/// Server interceptor, first of a ServiceHost's: gives every call an id (see
/// RequestIdOf) and returns it in the response's initial metadata. The access
/// line and the id in error messages come from the RPC metrics interceptor,
/// last, which sees the status as the client will.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRequestIdInterceptorFactory();

}  // namespace orqa
