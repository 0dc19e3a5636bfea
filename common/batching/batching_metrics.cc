#include "common/batching/batching_metrics.h"

#include "common/infra/metrics.h"

namespace orqa {

BatchingMetrics BatchingMetrics::Register(prometheus::Registry& reg, const std::string& prefix,
                                          const prometheus::Labels& labels, const std::string& what) {
  BatchingMetrics m;
  m.batch_size = &prometheus::BuildHistogram().Name(prefix + "_batch_size")
                      .Help(what + " requests per batch.").Register(reg)
                      .Add(labels, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128});
  m.queue_seconds = &prometheus::BuildHistogram().Name(prefix + "_queue_wait_seconds")
                         .Help("Time a " + what + " request waited for its batch, in seconds.").Register(reg)
                         .Add(labels, Metrics::LatencyBuckets());
  m.queue_depth = &prometheus::BuildGauge().Name(prefix + "_queue_depth")
                       .Help(what + " requests waiting for a batch.").Register(reg).Add(labels);
  m.dropped = &prometheus::BuildCounter().Name(prefix + "_dropped_total")
                   .Help(what + " requests dropped from the queue, not computed: deadline passed or caller cancelled.")
                   .Register(reg).Add(labels);
  m.shed = &prometheus::BuildCounter().Name(prefix + "_shed_total")
                .Help(what + " requests refused with RESOURCE_EXHAUSTED after the longest queue time (--max-queue-ms).")
                .Register(reg).Add(labels);
  return m;
}

BatcherObserver BatchingMetrics::Observer() const {
  BatcherObserver obs;
  auto* batch = batch_size;
  auto* wait = queue_seconds;
  auto* depth = queue_depth;
  auto* drop = dropped;
  obs.on_batch = [batch](int n) { batch->Observe(n); };
  obs.on_dequeue = [wait](double s) { wait->Observe(s); };
  obs.on_queue_depth = [depth](size_t d) { depth->Set(static_cast<double>(d)); };
  obs.on_expired = [drop] { drop->Increment(); };
  auto* shed_counter = shed;
  obs.on_shed = [shed_counter] { shed_counter->Increment(); };
  return obs;
}

}  // namespace orqa
