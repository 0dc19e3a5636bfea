#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace orqa {

/// The one conversion from internal status to the wire. Messages longer than
/// kMaxStatusMessageBytes are truncated so a huge error never blows a frame.
grpc::Status ToGrpcStatus(const absl::Status& status);

/// The inverse, for results of downstream calls.
absl::Status FromGrpcStatus(const grpc::Status& status);

inline constexpr size_t kMaxStatusMessageBytes = 4096;

}  // namespace orqa

#define ORQA_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    const ::absl::Status orqa_status__ = (expr);    \
    if (!orqa_status__.ok()) return orqa_status__;  \
  } while (false)

#define ORQA_RETURN_GRPC_IF_ERROR(expr)                               \
  do {                                                                \
    const ::absl::Status orqa_status__ = (expr);                      \
    if (!orqa_status__.ok()) return ::orqa::ToGrpcStatus(orqa_status__); \
  } while (false)
