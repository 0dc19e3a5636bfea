// The dynamic batcher: batch limits by count and by cost, the queue-time
// bound, deadlines while queued, and what its observer sees.
#include "common/batching/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace orqa {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A batch function that records batch compositions and holds each batch for `hold`.
struct Recorder {
  std::mutex mu;
  std::vector<std::vector<int>> batches;
  milliseconds hold{0};
  std::vector<absl::StatusOr<int>> operator()(const std::vector<const int*>& reqs) {
    std::this_thread::sleep_for(hold);
    std::vector<int> b;
    std::vector<absl::StatusOr<int>> out;
    for (const int* r : reqs) {
      b.push_back(*r);
      out.push_back(*r * 10);
    }
    std::lock_guard<std::mutex> l(mu);
    batches.push_back(b);
    return out;
  }
};

// One request per batch, no waiting for company: a second request queues
// behind the running one.
BatcherOptions OneAtATime() {
  BatcherOptions o;
  o.max_batch_size = 1;
  o.max_queue_delay_ms = 0;
  return o;
}

TEST(Batcher, BatchesStopAtTheCostLimitAndACostlyRequestRunsAlone) {
  Recorder rec;
  rec.hold = milliseconds(300);
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_batch_cost = 10;  // cost of a request = its value
  o.max_queue_delay_ms = 50;
  Batcher<int, int> b(o, [&](const std::vector<const int*>& r) { return rec(r); }, {},
                      [](const int& v) { return v; });
  // The first request occupies the worker; the rest queue up behind it.
  auto first = std::async(std::launch::async, [&] { return b.Submit(1, Clock::time_point::max()); });
  std::this_thread::sleep_for(milliseconds(100));
  std::vector<std::future<absl::StatusOr<int>>> rest;
  for (int v : {4, 5, 3, 12, 2}) {
    rest.push_back(std::async(std::launch::async, [&b, v] { return b.Submit(v, Clock::time_point::max()); }));
    std::this_thread::sleep_for(milliseconds(5));  // queue order = submission order
  }
  EXPECT_EQ(*first.get(), 10);
  std::vector<int> want = {40, 50, 30, 120, 20};
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(*rest[i].get(), want[i]);
  // [1], then 4+5 (≤ 10; +3 would exceed), then 3 (12 would exceed), then 12 alone, then 2.
  std::vector<std::vector<int>> expected = {{1}, {4, 5}, {3}, {12}, {2}};
  EXPECT_EQ(rec.batches, expected);
}

TEST(Batcher, AWaitBeyondTheMaxQueueTimeIsResourceExhaustedAndNotComputed) {
  Recorder rec;
  rec.hold = milliseconds(800);
  BatcherOptions o = OneAtATime();
  o.max_queue_ms = 200;
  std::atomic<int> shed{0};
  BatcherObserver obs;
  obs.on_shed = [&] { ++shed; };
  Batcher<int, int> b(o, [&](const std::vector<const int*>& r) { return rec(r); }, obs);
  auto busy = std::async(std::launch::async, [&] { return b.Submit(1, Clock::time_point::max()); });
  std::this_thread::sleep_for(milliseconds(50));
  const auto t0 = Clock::now();
  absl::StatusOr<int> refused = b.Submit(2, Clock::time_point::max());
  const auto waited = Clock::now() - t0;
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_GE(waited, milliseconds(190));
  EXPECT_LT(waited, milliseconds(600)) << "refused only when the running batch ended";
  EXPECT_EQ(shed.load(), 1);
  EXPECT_EQ(*busy.get(), 10);
  // A client deadline shorter than the max queue time is DEADLINE_EXCEEDED at the deadline.
  auto busy2 = std::async(std::launch::async, [&] { return b.Submit(3, Clock::time_point::max()); });
  std::this_thread::sleep_for(milliseconds(50));
  absl::StatusOr<int> late = b.Submit(4, Clock::now() + milliseconds(100));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  EXPECT_EQ(*busy2.get(), 30);
  std::lock_guard<std::mutex> l(rec.mu);
  std::vector<std::vector<int>> expected = {{1}, {3}};
  EXPECT_EQ(rec.batches, expected) << "a refused request was computed";
}

TEST(Batcher, WithoutLimitsAQueuedRequestWaitsForItsBatch) {
  Recorder rec;
  rec.hold = milliseconds(300);
  BatcherOptions o = OneAtATime();
  Batcher<int, int> b(o, [&](const std::vector<const int*>& r) { return rec(r); });
  auto busy = std::async(std::launch::async, [&] { return b.Submit(1, Clock::time_point::max()); });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(*b.Submit(2, Clock::time_point::max()), 20);
  EXPECT_EQ(*busy.get(), 10);
}

}  // namespace
}  // namespace orqa
