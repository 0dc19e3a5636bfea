#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "common/batching/batcher.h"

namespace orqa {

/// The metrics every batcher owner exports, named `<prefix>_batch_size`,
/// `<prefix>_queue_wait_seconds`, `<prefix>_queue_depth`, `<prefix>_dropped_total` and
/// `<prefix>_shed_total`.
struct BatchingMetrics {
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Histogram* queue_seconds = nullptr;
  prometheus::Gauge* queue_depth = nullptr;
  prometheus::Counter* dropped = nullptr;
  prometheus::Counter* shed = nullptr;

  static BatchingMetrics Register(prometheus::Registry& registry, const std::string& prefix,
                                  const prometheus::Labels& labels, const std::string& what);
  /// An observer that feeds these metrics.
  BatcherObserver Observer() const;
};

}  // namespace orqa
