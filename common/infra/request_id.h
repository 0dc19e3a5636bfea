#pragma once

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>

namespace grpc {
class ClientContext;
class ServerContext;
}  // namespace grpc

namespace orqa {

/// One id per client request, through every hop and log line.
/// The metadata key every orqa service reads and sends: `x-request-id`.
inline constexpr char kRequestIdKey[] = "x-request-id";

/// The id of the call: its x-request-id (the server's interceptor puts one
/// there when the caller sent none: a W3C traceparent's trace id, else a new
/// random one). "" outside a call served by ServiceHost.
std::string RequestIdOf(const grpc::ServerContext& context);

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

/// Server interceptor: gives every call an id (see RequestIdOf), returns it
/// in the response's initial metadata, and logs one access line per call
/// ("rpc METHOD CODE MS ms request_id=ID", debug level; warn for failures the
/// server owns: UNKNOWN, INTERNAL, UNAVAILABLE, DATA_LOSS, DEADLINE_EXCEEDED
/// downstream). With `errors_carry_id` (the gateway) the message of a failure
/// worth tracing (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
/// INTERNAL, UNKNOWN, DATA_LOSS) ends with " (request id ID)", so a client can
/// quote it; every response carries the id in its metadata.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRequestIdInterceptorFactory(
    bool errors_carry_id);

}  // namespace orqa
