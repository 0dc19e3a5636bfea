#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "common/infra/metrics.h"

namespace orqa {

/// Server interceptor factory that records every RPC's status code and
/// latency in `metrics` (which must outlive the server).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcMetricsInterceptorFactory(Metrics* metrics);

}  // namespace orqa
