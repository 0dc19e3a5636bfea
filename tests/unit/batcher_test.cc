// The dynamic batcher: batch limits by count and by cost, the queue-time
// bound, deadlines while queued, and what its observer sees.
#include "common/batching/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <thread>
#include <vector>

namespace orqa {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A batch function that records batch compositions. While the gate is
// closed a batch waits inside it, so the test decides when the worker is
// free: queue order and batch composition depend on no sleep and on no
// thread's start order.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<int>> batches;
  int started = 0;    // batches that entered the function
  bool open = true;   // the gate
  std::vector<absl::StatusOr<int>> operator()(const std::vector<const int*>& reqs) {
    std::unique_lock<std::mutex> l(mu);
    ++started;
    cv.notify_all();
    cv.wait(l, [&] { return open; });
    std::vector<int> b;
    std::vector<absl::StatusOr<int>> out;
    for (const int* r : reqs) {
      b.push_back(*r);
      out.push_back(*r * 10);
    }
    batches.push_back(b);
    return out;
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu);
    open = false;
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu);
    open = true;
    cv.notify_all();
  }
  void WaitStarted(int n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return started >= n; });
  }
};

// The queue depth the batcher last reported, and a wait for a given depth.
struct Depth {
  std::mutex mu;
  std::condition_variable cv;
  size_t depth = 0;
  BatcherObserver Observer() {
    BatcherObserver o;
    o.on_queue_depth = [this](size_t d) {
      std::lock_guard<std::mutex> l(mu);
      depth = d;
      cv.notify_all();
    };
    return o;
  }
  void WaitFor(size_t d) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return depth == d; });
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
  Depth depth;
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_batch_cost = 10;  // cost of a request = its value
  o.max_queue_delay_ms = 50;
  Batcher<int, int> b(o, [&](const std::vector<const int*>& r) { return rec(r); }, depth.Observer(),
                      [](const int& v) { return v; });
  // The first request occupies the worker (held at the gate); the rest queue
  // up behind it, each submitted once the one before is in the queue.
  rec.Close();
  auto first = std::async(std::launch::async, [&] { return b.Submit(1, Clock::time_point::max()); });
  rec.WaitStarted(1);
  std::vector<std::future<absl::StatusOr<int>>> rest;
  const std::vector<int> values = {4, 5, 3, 12, 2};
  for (size_t i = 0; i < values.size(); ++i) {
    const int v = values[i];
    rest.push_back(std::async(std::launch::async, [&b, v] { return b.Submit(v, Clock::time_point::max()); }));
    depth.WaitFor(i + 1);
  }
  rec.Open();
  EXPECT_EQ(*first.get(), 10);
  std::vector<int> want = {40, 50, 30, 120, 20};
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(*rest[i].get(), want[i]);
  // [1], then 4+5 (≤ 10; +3 would exceed), then 3 (12 would exceed), then 12 alone, then 2.
  std::vector<std::vector<int>> expected = {{1}, {4, 5}, {3}, {12}, {2}};
  EXPECT_EQ(rec.batches, expected);
}

TEST(Batcher, AWaitBeyondTheMaxQueueTimeIsResourceExhaustedAndNotComputed) {
  Recorder rec;
  BatcherOptions o = OneAtATime();
  o.max_queue_ms = 200;
  std::atomic<int> shed{0};
  BatcherObserver obs;
  obs.on_shed = [&] { ++shed; };
  Batcher<int, int> b(o, [&](const std::vector<const int*>& r) { return rec(r); }, obs);
  rec.Close();
  auto busy = std::async(std::launch::async, [&] { return b.Submit(1, Clock::time_point::max()); });
  rec.WaitStarted(1);
  const auto t0 = Clock::now();
  absl::StatusOr<int> refused = b.Submit(2, Clock::time_point::max());
  const auto waited = Clock::now() - t0;
  // Refused while the running batch still holds the worker (the gate is closed).
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_GE(waited, milliseconds(200));
  EXPECT_EQ(shed.load(), 1);
  rec.Open();
  EXPECT_EQ(*busy.get(), 10);
  // A client deadline shorter than the max queue time is DEADLINE_EXCEEDED at the deadline.
  rec.Close();
  auto busy2 = std::async(std::launch::async, [&] { return b.Submit(3, Clock::time_point::max()); });
  rec.WaitStarted(2);  // {1}, then {3} (the shed 2 never started)
  absl::StatusOr<int> late = b.Submit(4, Clock::now() + milliseconds(100));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  rec.Open();
  EXPECT_EQ(*busy2.get(), 30);
  std::lock_guard<std::mutex> l(rec.mu);
  std::vector<std::vector<int>> expected = {{1}, {3}};
  EXPECT_EQ(rec.batches, expected) << "a refused request was computed";
}

TEST(Batcher, WithoutLimitsAQueuedRequestWaitsForItsBatch) {
  Recorder rec;
  Depth depth;
  BatcherOptions o = OneAtATime();
  Batcher<int, int> b(o, [&](const std::vector<const int*>& r) { return rec(r); }, depth.Observer());
  rec.Close();
  auto busy = std::async(std::launch::async, [&] { return b.Submit(1, Clock::time_point::max()); });
  rec.WaitStarted(1);
  auto queued = std::async(std::launch::async, [&] { return b.Submit(2, Clock::time_point::max()); });
  depth.WaitFor(1);
  rec.Open();
  EXPECT_EQ(*queued.get(), 20);
  EXPECT_EQ(*busy.get(), 10);
}

}  // namespace
}  // namespace orqa
