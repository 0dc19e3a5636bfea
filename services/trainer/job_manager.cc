#include "services/trainer/job_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/trainer/trainer_metrics.h"

namespace orqa {
namespace {

using orqa::v1::Job;
using orqa::v1::JobState;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Watch events carry the job without its (possibly long) history.
Job WithoutHistory(const Job& job) {
  Job j = job;
  j.clear_history();
  return j;
}

}  // namespace

class JobManager::Context final : public JobContext {
 public:
  Context(JobManager* m, std::string id) : m_(m), id_(std::move(id)) {}
  Job Snapshot() const override {
    std::lock_guard<std::mutex> lock(m_->mu_);
    return m_->jobs_.at(id_).job;
  }
  bool cancelled() const override {
    std::lock_guard<std::mutex> lock(m_->mu_);
    return m_->jobs_.at(id_).cancel;
  }
  bool stopping() const override { return m_->stopping(); }
  void Update(const std::function<void(Job*)>& change, const std::string& message, bool persist) override {
    std::lock_guard<std::mutex> lock(m_->mu_);
    Entry& e = m_->jobs_.at(id_);
    change(&e.job);
    e.job.set_updated_at_unix_s(std::time(nullptr));
    e.message = message;
    ++e.version;
    // Progress is written at most every 2 s; checkpoints and evals at once.
    if (persist || std::chrono::steady_clock::now() - e.persisted > std::chrono::seconds(2)) m_->Persist(e);
    m_->cv_.notify_all();
  }

 private:
  JobManager* m_;
  std::string id_;
};

JobManager::JobManager(JobStore store, int queue_limit, RunFn run, TrainerMetrics* metrics)
    : store_(std::move(store)), queue_limit_(queue_limit), run_(std::move(run)), metrics_(metrics) {}

JobManager::~JobManager() {
  RequestStop();
  Join();
}

bool JobManager::Ended(JobState s) {
  return s == orqa::v1::JOB_STATE_SUCCEEDED || s == orqa::v1::JOB_STATE_FAILED || s == orqa::v1::JOB_STATE_CANCELLED;
}

void JobManager::Persist(Entry& e) {
  e.persisted = std::chrono::steady_clock::now();
  if (absl::Status st = store_.Save(e.job); !st.ok()) spdlog::error("job {}: {}", e.job.job_id(), std::string(st.message()));
}

void JobManager::UpdateMetricsLocked() {
  if (!metrics_) return;
  std::map<std::string, int> counts;
  for (int s = orqa::v1::JOB_STATE_QUEUED; s <= orqa::v1::JOB_STATE_CANCELLED; ++s) {
    counts[orqa::v1::JobState_Name(static_cast<JobState>(s))] = 0;
  }
  for (const auto& [id, e] : jobs_) ++counts[orqa::v1::JobState_Name(e.job.state())];
  metrics_->Jobs(counts);
}

absl::Status JobManager::Open() {
  auto jobs = store_.LoadAll();
  if (!jobs.ok()) return jobs.status();
  std::sort(jobs->begin(), jobs->end(), [](const Job& a, const Job& b) { return a.job_id() < b.job_id(); });
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> running, queued;
  for (auto& job : *jobs) {
    if (job.state() == orqa::v1::JOB_STATE_RUNNING) running.push_back(job.job_id());
    if (job.state() == orqa::v1::JOB_STATE_QUEUED) queued.push_back(job.job_id());
    jobs_[job.job_id()].job = std::move(job);
  }
  for (const auto& id : running) queue_.push_back(id);
  for (const auto& id : queued) queue_.push_back(id);
  if (!running.empty() || !queued.empty()) {
    spdlog::info("job table: {} jobs; resuming {} running, {} queued", jobs_.size(), running.size(), queued.size());
  }
  UpdateMetricsLocked();
  return absl::OkStatus();
}

void JobManager::Start() {
  worker_ = std::thread([this] { Worker(); });
}

void JobManager::RequestStop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

void JobManager::Join() {
  if (worker_.joinable()) worker_.join();
}

bool JobManager::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

absl::StatusOr<Job> JobManager::Submit(const orqa::v1::JobSpec& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return absl::UnavailableError("the trainer is shutting down");
  if (static_cast<int>(queue_.size()) >= queue_limit_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the job queue is full (", queue_.size(), " jobs waiting, --queue-limit ", queue_limit_, ")"));
  }
  // Ids sort by creation time: "job-<unix ms>-<seq>".
  int64_t ms = NowMs();
  seq_ = ms == last_id_ms_ ? seq_ + 1 : 0;
  last_id_ms_ = ms;
  Entry e;
  e.job.set_job_id(absl::StrFormat("job-%013d-%03d", ms, seq_));
  *e.job.mutable_spec() = spec;
  e.job.set_state(orqa::v1::JOB_STATE_QUEUED);
  e.job.set_created_at_unix_s(ms / 1000);
  e.job.set_updated_at_unix_s(ms / 1000);
  e.message = "queued";
  Persist(e);
  const std::string id = e.job.job_id();
  jobs_[id] = std::move(e);
  queue_.push_back(id);
  UpdateMetricsLocked();
  cv_.notify_all();
  return jobs_[id].job;
}

absl::StatusOr<Job> JobManager::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job_id: no job '", id, "'"));
  return it->second.job;
}

std::vector<Job> JobManager::List(int limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Job> out;
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {  // ids sort by creation: newest first
    if (limit > 0 && static_cast<int>(out.size()) >= limit) break;
    out.push_back(WithoutHistory(it->second.job));
  }
  return out;
}

absl::StatusOr<Job> JobManager::Cancel(const std::string& id, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job_id: no job '", id, "'"));
  Entry& e = it->second;
  if (Ended(e.job.state())) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " already ended: ", orqa::v1::JobState_Name(e.job.state())));
  }
  e.cancel = true;
  if (e.job.state() == orqa::v1::JOB_STATE_QUEUED) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    e.job.set_state(orqa::v1::JOB_STATE_CANCELLED);
    e.job.set_finished_at_unix_s(std::time(nullptr));
    e.message = "cancelled while queued";
    ++e.version;
    Persist(e);
    UpdateMetricsLocked();
    cv_.notify_all();
    return e.job;
  }
  cv_.wait_for(lock, wait, [&] { return Ended(e.job.state()); });
  return e.job;
}

bool JobManager::WaitForChange(const std::string& id, uint64_t* version, Job* job, std::string* message,
                               std::chrono::steady_clock::time_point until, const std::function<bool()>& gone) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  const Entry& e = it->second;
  while (e.version <= *version && !stop_) {
    if (gone && gone()) return false;
    if (std::chrono::steady_clock::now() >= until) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
  if (e.version <= *version) return false;
  *version = e.version;
  *job = WithoutHistory(e.job);
  *message = e.message;
  return true;
}

void JobManager::Worker() {
  while (true) {
    std::string id;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      id = queue_.front();
      queue_.pop_front();
      Entry& e = jobs_.at(id);
      if (e.job.state() == orqa::v1::JOB_STATE_RUNNING) e.job.set_resumed(e.job.resumed() + 1);
      e.job.set_state(orqa::v1::JOB_STATE_RUNNING);
      if (e.job.started_at_unix_s() == 0) e.job.set_started_at_unix_s(std::time(nullptr));
      e.message = e.job.resumed() > 0 ? absl::StrCat("resumed at step ", e.job.step()) : "started";
      ++e.version;
      Persist(e);
      UpdateMetricsLocked();
      cv_.notify_all();
    }
    spdlog::info("job {} running", id);
    Context ctx(this, id);
    absl::Status st;
    try {
      st = run_(ctx);
    } catch (const std::exception& ex) {  // a LibTorch error must not take the trainer down
      st = absl::InternalError(absl::StrCat("job crashed: ", ex.what()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = jobs_.at(id);
    if (st.code() == absl::StatusCode::kAborted && stop_) {
      e.message = absl::StrCat("trainer stopping; resumes at step ", e.job.step());
      Persist(e);
      spdlog::info("job {}: {}", id, e.message);
      ++e.version;
      cv_.notify_all();
      return;
    }
    if (st.ok()) {
      e.job.set_state(orqa::v1::JOB_STATE_SUCCEEDED);
      e.message = "succeeded";
    } else if (st.code() == absl::StatusCode::kCancelled && e.cancel) {
      e.job.set_state(orqa::v1::JOB_STATE_CANCELLED);
      e.message = absl::StrCat("cancelled at step ", e.job.step());
    } else {
      e.job.set_state(orqa::v1::JOB_STATE_FAILED);
      e.job.set_error(std::string(st.message()));
      e.message = absl::StrCat("failed: ", st.message());
    }
    e.job.set_eta_s(0);
    e.job.set_finished_at_unix_s(std::time(nullptr));
    e.job.set_updated_at_unix_s(std::time(nullptr));
    ++e.version;
    Persist(e);
    UpdateMetricsLocked();
    cv_.notify_all();
    spdlog::info("job {}: {}", id, e.message);
  }
}

}  // namespace orqa
