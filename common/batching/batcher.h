#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace orqa {

/// Options of a Batcher.
struct BatcherOptions {
  /// Most requests processed together.
  int max_batch_size = 8;
  /// Longest the first request of a batch waits for others, in milliseconds.
  double max_queue_delay_ms = 2.0;
  /// Requests waiting beyond this are refused with RESOURCE_EXHAUSTED.
  int queue_limit = 256;
};

/// What the batcher reports to its owner's metrics.
struct BatcherObserver {
  std::function<void(int batch_size)> on_batch;
  std::function<void(double queue_seconds)> on_dequeue;
  std::function<void(size_t depth)> on_queue_depth;
  std::function<void()> on_expired;  // dropped before computing: deadline passed or cancelled
};

/// Dynamic batching: callers Submit() one request and block until its batch
/// has been processed by the single worker thread. A batch closes when it
/// holds max_batch_size requests or its first request has waited
/// max_queue_delay_ms. Requests whose deadline passed (or whose caller
/// cancelled) while queued are dropped, not computed.
template <typename Request, typename Response>
class Batcher {
 public:
  using ProcessFn = std::function<std::vector<absl::StatusOr<Response>>(const std::vector<const Request*>&)>;

  Batcher(BatcherOptions options, ProcessFn process, BatcherObserver observer = {})
      : options_(options), process_(std::move(process)), observer_(std::move(observer)) {
    worker_ = std::thread([this] { Loop(); });
  }
  ~Batcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  /// Blocks until the request is processed, dropped or refused.
  absl::StatusOr<Response> Submit(Request request, std::chrono::steady_clock::time_point deadline,
                                  std::function<bool()> cancelled = nullptr) {
    auto task = std::make_shared<Task>();
    task->request = std::move(request);
    task->deadline = deadline;
    task->cancelled = std::move(cancelled);
    task->enqueued = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return absl::UnavailableError("server is shutting down");
      if (static_cast<int>(queue_.size()) >= options_.queue_limit) {
        return absl::ResourceExhaustedError(
            absl::StrCat("batch queue is full (", options_.queue_limit, " requests waiting); retry later"));
      }
      queue_.push_back(task);
      if (observer_.on_queue_depth) observer_.on_queue_depth(queue_.size());
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lock(task->mu);
    task->cv.wait(lock, [&] { return task->done; });
    return std::move(task->result);
  }

 private:
  struct Task {
    Request request;
    std::chrono::steady_clock::time_point deadline, enqueued;
    std::function<bool()> cancelled;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::StatusOr<Response> result = absl::UnknownError("not processed");
  };

  static void Finish(Task& t, absl::StatusOr<Response> r) {
    std::lock_guard<std::mutex> lock(t.mu);
    t.result = std::move(r);
    t.done = true;
    t.cv.notify_all();
  }

  void Loop() {
    while (true) {
      std::vector<std::shared_ptr<Task>> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) return;
        auto close_at = queue_.front()->enqueued +
                        std::chrono::microseconds(static_cast<int64_t>(options_.max_queue_delay_ms * 1000));
        cv_.wait_until(lock, close_at, [&] {
          return stopping_ || static_cast<int>(queue_.size()) >= options_.max_batch_size;
        });
        while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch_size) {
          batch.push_back(queue_.front());
          queue_.pop_front();
        }
        if (observer_.on_queue_depth) observer_.on_queue_depth(queue_.size());
      }
      auto now = std::chrono::steady_clock::now();
      std::vector<std::shared_ptr<Task>> live;
      for (auto& t : batch) {
        if (observer_.on_dequeue) observer_.on_dequeue(std::chrono::duration<double>(now - t->enqueued).count());
        if (now >= t->deadline) {
          if (observer_.on_expired) observer_.on_expired();
          Finish(*t, absl::DeadlineExceededError("deadline passed while the request was queued; not computed"));
        } else if (t->cancelled && t->cancelled()) {
          if (observer_.on_expired) observer_.on_expired();
          Finish(*t, absl::CancelledError("request cancelled while queued; not computed"));
        } else {
          live.push_back(t);
        }
      }
      if (live.empty()) continue;
      if (observer_.on_batch) observer_.on_batch(static_cast<int>(live.size()));
      std::vector<const Request*> requests;
      for (auto& t : live) requests.push_back(&t->request);
      std::vector<absl::StatusOr<Response>> results;
      try {
        results = process_(requests);
      } catch (const std::exception& e) {
        results.assign(live.size(), absl::InternalError(absl::StrCat("batch failed: ", e.what())));
      }
      for (size_t i = 0; i < live.size(); ++i) {
        Finish(*live[i], i < results.size() ? std::move(results[i]) : absl::InternalError("batch lost a result"));
      }
    }
  }

  BatcherOptions options_;
  ProcessFn process_;
  BatcherObserver observer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace orqa
