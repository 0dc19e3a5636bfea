#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "orqa/v1/trainer.pb.h"
#include "services/trainer/job_store.h"

namespace orqa {

class TrainerMetrics;
class DataParallel;

/// What a running job sees of the engine.
class JobContext {
 public:
  virtual ~JobContext() = default;
  /// A copy of the job as the table holds it now.
  virtual orqa::v1::Job Snapshot() const = 0;
  /// CancelJob was called: return CANCELLED at the next safe point.
  virtual bool cancelled() const = 0;
  /// The trainer is shutting down: write a checkpoint, then return ABORTED
  /// (the job stays RUNNING on disk and resumes on the next start).
  virtual bool stopping() const = 0;
  /// Changes the job under the table's lock, wakes watchers with `message`,
  /// and writes it to disk when `persist` (or every few seconds anyway).
  virtual void Update(const std::function<void(orqa::v1::Job*)>& change, const std::string& message,
                      bool persist) = 0;
  /// The job's data-parallel process group, when it runs on several trainer
  /// ranks (nullptr: this process alone).
  virtual DataParallel* data_parallel() { return nullptr; }
};

/// The job engine: a persisted table, a FIFO queue, one worker running one job
/// at a time, cancellation, watchers, and resume after a restart (RUNNING jobs
/// first, then QUEUED ones, in the order they were created).
class JobManager {
 public:
  /// Runs one job to its end: OK → SUCCEEDED, CANCELLED → CANCELLED, ABORTED
  /// while stopping → left RUNNING for the next start, anything else → FAILED
  /// with the status message.
  using RunFn = std::function<absl::Status(JobContext&)>;

  JobManager(JobStore store, int queue_limit, RunFn run, TrainerMetrics* metrics);
  ~JobManager();

  /// Loads the table and queues what was RUNNING or QUEUED. Errors name the file.
  absl::Status Open();
  /// Starts the worker.
  void Start();
  /// On SIGTERM: the running job checkpoints and ends, nothing new starts,
  /// watchers return. Does not block.
  void RequestStop();
  /// Waits for the worker to finish.
  void Join();

  /// Queues a job (spec already validated). RESOURCE_EXHAUSTED when the queue is full.
  absl::StatusOr<orqa::v1::Job> Submit(const orqa::v1::JobSpec& spec);
  absl::StatusOr<orqa::v1::Job> Get(const std::string& id) const;
  /// Newest first, at most `limit` (0 = all), without histories.
  std::vector<orqa::v1::Job> List(int limit) const;
  /// A queued job ends at once; a running one at its next step (this waits
  /// up to `wait` for that). FAILED_PRECONDITION for a job that already ended.
  absl::StatusOr<orqa::v1::Job> Cancel(const std::string& id, std::chrono::milliseconds wait);

  /// Blocks until job `id` has changed past `*version` (0 = return at once),
  /// `until` passes, `gone()` says the caller left, or the manager stops.
  /// Returns true with the job (without history) and its latest message when
  /// there is something to send.
  bool WaitForChange(const std::string& id, uint64_t* version, orqa::v1::Job* job, std::string* message,
                     std::chrono::steady_clock::time_point until, const std::function<bool()>& gone);
  bool stopping() const;
  /// SUCCEEDED, FAILED or CANCELLED.
  static bool Ended(orqa::v1::JobState s);

 private:
  struct Entry {
    orqa::v1::Job job;
    uint64_t version = 1;
    std::string message;
    bool cancel = false;
    std::chrono::steady_clock::time_point persisted{};
  };
  class Context;

  void Worker();
  void Persist(Entry& e);  // with mu_ held
  void UpdateMetricsLocked();

  JobStore store_;
  int queue_limit_;
  RunFn run_;
  TrainerMetrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // queue, job changes, stop
  std::map<std::string, Entry> jobs_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  int64_t last_id_ms_ = 0;
  int seq_ = 0;
  std::thread worker_;
};

}  // namespace orqa
