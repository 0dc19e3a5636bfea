#pragma once

#include "absl/status/status.h"
#include "common/batching/batcher.h"
#include "common/infra/flags.h"

namespace orqa {

/// --max-batch-size, --max-queue-delay-ms, --queue-limit, --max-queue-ms (ORQA_* fallbacks).
inline void AddBatcherFlags(FlagSet& flags, BatcherOptions* o, const std::string& what) {
  flags.Int("max-batch-size", &o->max_batch_size, "Most " + what + " calls per batch.");
  flags.Double("max-queue-delay-ms", &o->max_queue_delay_ms,
               "Longest a call waits for its batch to fill, in milliseconds (default 0: a batch is what queued while "
               "the worker was busy; an idle worker starts at once).");
  flags.Int("queue-limit", &o->queue_limit, "Queued calls beyond this get RESOURCE_EXHAUSTED.");
  flags.Double("max-queue-ms", &o->max_queue_ms,
               "Longest a call waits in the queue before RESOURCE_EXHAUSTED (not computed), in "
               "milliseconds (default 10000); 0 = no limit (a client deadline still applies).");
}

/// Range checks naming the flag.
inline absl::Status ValidateBatcherOptions(const BatcherOptions& o) {
  if (o.max_batch_size < 1 || o.max_batch_size > 1024) {
    return absl::InvalidArgumentError("--max-batch-size: expected 1..1024");
  }
  if (!(o.max_queue_delay_ms >= 0) || o.max_queue_delay_ms > 60000) {
    return absl::InvalidArgumentError("--max-queue-delay-ms: expected 0..60000");
  }
  if (o.queue_limit < 1) return absl::InvalidArgumentError("--queue-limit: expected >= 1");
  if (!(o.max_queue_ms >= 0) || o.max_queue_ms > 3.6e6) {
    return absl::InvalidArgumentError("--max-queue-ms: expected 0..3600000");
  }
  return absl::OkStatus();
}

}  // namespace orqa
