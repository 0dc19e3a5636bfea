#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "common/infra/metrics.h"

namespace orqa {

/// Server interceptor factory, the last of a ServiceHost's (it sees the
/// status the client gets), per call: the status code and latency in
/// `metrics` (which must outlive the server), and one access line
/// `rpc METHOD CODE MS ms request_id=ID` — debug level; warn for the
/// failures the server owns (UNAVAILABLE, ABORTED, INTERNAL, UNKNOWN,
/// DATA_LOSS; load shedding stays at debug). With `errors_carry_id` (the
/// gateway) the messages of those and of RESOURCE_EXHAUSTED and
/// DEADLINE_EXCEEDED end with " (request id ID)", so a client can quote it.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptorFactory(
    Metrics* metrics, bool errors_carry_id);

}  // namespace orqa
