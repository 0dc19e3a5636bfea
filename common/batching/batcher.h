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
  /// Most cost (the owner's unit: reader rows = blocks) in one batch; a
  /// request costlier than this still runs, alone. 0 = no limit.
  int max_batch_cost = 0;
  /// Longest the first request of a batch waits for others, in
  /// milliseconds. 0 (the default): a batch is what queued up while the
  /// worker was busy, and an idle worker starts at once — never slower than
  /// unbatched; waiting pays only where one pass of many rows costs little
  /// more than one of a few (GPUs). Measured on 2 CPU cores with realm-tiny:
  /// a 2 ms wait cut one client from 441 to 156 answers/s.
  double max_queue_delay_ms = 0;
  /// Requests waiting beyond this are refused with RESOURCE_EXHAUSTED.
  int queue_limit = 256;
  /// Longest a request waits in the queue before it is refused with
  /// RESOURCE_EXHAUSTED (it is not computed), in milliseconds; 0 = no limit.
  /// A client's shorter deadline applies first (DEADLINE_EXCEEDED).
  double max_queue_ms = 10000;
};

/// What the batcher reports to its owner's metrics.
struct BatcherObserver {
  std::function<void(int batch_size)> on_batch;
  std::function<void(double queue_seconds)> on_dequeue;
  std::function<void(size_t depth)> on_queue_depth;
  std::function<void()> on_expired;  // dropped before computing: deadline passed or cancelled
  std::function<void()> on_shed;     // refused after max_queue_ms in the queue
};

/// Dynamic batching: callers Submit() one request and block until its batch
/// has been processed by the single worker thread. A batch closes when it
/// holds max_batch_size requests or max_batch_cost cost, or its first request
/// has waited max_queue_delay_ms. A request leaves the queue uncomputed when
/// its deadline passes (DEADLINE_EXCEEDED, at that moment, not when a batch
/// would have reached it), after max_queue_ms (RESOURCE_EXHAUSTED), or when
/// its caller cancelled (checked when its batch forms).
template <typename Request, typename Response>
class Batcher {
 public:
  using ProcessFn = std::function<std::vector<absl::StatusOr<Response>>(const std::vector<const Request*>&)>;
  using CostFn = std::function<int(const Request&)>;

  Batcher(BatcherOptions options, ProcessFn process, BatcherObserver observer = {}, CostFn cost = nullptr)
      : options_(options), process_(std::move(process)), observer_(std::move(observer)), cost_(std::move(cost)) {
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

  /// Changes max_batch_cost (e.g. for a newly loaded model); 0 = no limit.
  void set_max_batch_cost(int cost) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      options_.max_batch_cost = cost;
    }
    cv_.notify_all();
  }

  /// Blocks until the request is processed, dropped or refused.
  absl::StatusOr<Response> Submit(Request request, std::chrono::steady_clock::time_point deadline,
                                  std::function<bool()> cancelled = nullptr) {
    auto task = std::make_shared<Task>();
    task->request = std::move(request);
    task->deadline = deadline;
    task->cancelled = std::move(cancelled);
    task->enqueued = std::chrono::steady_clock::now();
    task->cost = cost_ ? std::max(1, cost_(task->request)) : 1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return absl::UnavailableError("server is shutting down");
      if (static_cast<int>(queue_.size()) >= options_.queue_limit) {
        return absl::ResourceExhaustedError(
            absl::StrCat("batch queue is full (", options_.queue_limit, " requests waiting); retry later"));
      }
      queue_.push_back(task);
      queued_cost_ += task->cost;
      if (observer_.on_queue_depth) observer_.on_queue_depth(queue_.size());
    }
    cv_.notify_all();
    // The queue time ends at the deadline or after max_queue_ms, whichever is first.
    auto leave_at = deadline;
    const bool shed = options_.max_queue_ms > 0 &&
                      task->enqueued + Millis(options_.max_queue_ms) < deadline;
    if (shed) leave_at = task->enqueued + Millis(options_.max_queue_ms);
    std::unique_lock<std::mutex> lock(task->mu);
    if (leave_at == std::chrono::steady_clock::time_point::max() ||
        task->cv.wait_until(lock, leave_at, [&] { return task->done; })) {
      task->cv.wait(lock, [&] { return task->done; });
      return std::move(task->result);
    }
    lock.unlock();
    if (Withdraw(task)) {
      if (shed) {
        if (observer_.on_shed) observer_.on_shed();
        return absl::ResourceExhaustedError(absl::StrCat("waited ", options_.max_queue_ms,
                                                         " ms in the batch queue without being computed (the server is "
                                                         "overloaded; max queue time); retry later"));
      }
      if (observer_.on_expired) observer_.on_expired();
      return absl::DeadlineExceededError("deadline passed while the request was queued; not computed");
    }
    // Its batch is running: the result comes.
    lock.lock();
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
    int cost = 1;
  };

  static std::chrono::microseconds Millis(double ms) {
    return std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
  }

  // Takes a queued task out of the queue; false when a batch already took it.
  bool Withdraw(const std::shared_ptr<Task>& task) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == task) {
        queue_.erase(it);
        queued_cost_ -= task->cost;
        if (observer_.on_queue_depth) observer_.on_queue_depth(queue_.size());
        return true;
      }
    }
    return false;
  }

  bool Full() const {
    return static_cast<int>(queue_.size()) >= options_.max_batch_size ||
           (options_.max_batch_cost > 0 && queued_cost_ >= options_.max_batch_cost);
  }

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
        // A request may leave the queue meanwhile (deadline, max queue time).
        while (!stopping_ && !queue_.empty() && !Full()) {
          const auto close_at = queue_.front()->enqueued + Millis(options_.max_queue_delay_ms);
          if (std::chrono::steady_clock::now() >= close_at) break;
          cv_.wait_until(lock, close_at);
        }
        if (queue_.empty()) continue;
        int cost = 0;
        while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch_size &&
               (batch.empty() || options_.max_batch_cost <= 0 || cost + queue_.front()->cost <= options_.max_batch_cost)) {
          cost += queue_.front()->cost;
          queued_cost_ -= queue_.front()->cost;
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
  CostFn cost_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  int64_t queued_cost_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace orqa
