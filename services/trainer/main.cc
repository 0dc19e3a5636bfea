// orqa-trainer: finetune and index-build jobs.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <torch/torch.h>

#include "absl/strings/str_split.h"
#include "common/infra/cpu_level.h"
#include "common/infra/tensor_allocator.h"
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "absl/strings/numbers.h"
#include "services/trainer/build_index_job.h"
#include "services/trainer/data_parallel.h"
#include "services/trainer/finetune_job.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/pretrain_jobs.h"
#include "services/trainer/reader_job.h"
#include "services/trainer/realm_pretrain_job.h"
#include "services/trainer/retriever_client.h"
#include "services/trainer/trainer_metrics.h"
#include "services/trainer/trainer_service.h"

namespace {
constexpr char kProgram[] = "orqa-trainer";

// A job of the engine (rank 0) with its data-parallel group.
class GroupContext : public orqa::JobContext {
 public:
  GroupContext(orqa::JobContext& base, orqa::DataParallel* group) : base_(base), group_(group) {}
  orqa::v1::Job Snapshot() const override { return base_.Snapshot(); }
  bool cancelled() const override { return base_.cancelled(); }
  bool stopping() const override { return base_.stopping(); }
  void Update(const std::function<void(orqa::v1::Job*)>& change, const std::string& message, bool persist) override {
    base_.Update(change, message, persist);
  }
  orqa::DataParallel* data_parallel() override { return group_; }

 private:
  orqa::JobContext& base_;
  orqa::DataParallel* group_;
};

// A job as another rank runs it: the job rank 0 announced; progress, history
// and checkpoints are rank 0's to keep.
class WorkerContext : public orqa::JobContext {
 public:
  WorkerContext(orqa::v1::Job job, orqa::DataParallel* group, const std::atomic<bool>* stopping)
      : job_(std::move(job)), group_(group), stopping_(stopping) {}
  orqa::v1::Job Snapshot() const override { return job_; }
  bool cancelled() const override { return false; }
  bool stopping() const override { return *stopping_; }
  void Update(const std::function<void(orqa::v1::Job*)>& change, const std::string& message, bool persist) override {
    change(&job_);
    if (persist) spdlog::info("job {} (rank {}): {}", job_.job_id(), group_->rank(), message);
  }
  orqa::DataParallel* data_parallel() override { return group_; }

 private:
  orqa::v1::Job job_;
  orqa::DataParallel* group_;
  const std::atomic<bool>* stopping_;
};

// Training kinds split their batches over the ranks; BUILD_INDEX runs on rank 0 alone.
bool SplitsBatches(orqa::v1::JobKind kind) {
  return kind != orqa::v1::JOB_KIND_BUILD_INDEX;
}

// torchrun's variables as defaults of the data-parallel flags.
absl::Status TorchrunDefaults(orqa::DataParallelOptions* o) {
  for (auto [name, target] : {std::pair<const char*, int*>{"RANK", &o->rank}, {"WORLD_SIZE", &o->world_size},
                              {"MASTER_PORT", &o->master_port}}) {
    const char* v = std::getenv(name);
    if (v != nullptr && !absl::SimpleAtoi(v, target)) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, ": expected an integer, got '", v, "'"));
    }
  }
  if (const char* v = std::getenv("MASTER_ADDR")) o->master_addr = v;
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  orqa::KeepTensorAllocationsInHeap();  // before any tensor exists
  orqa::BlockTerminationSignals();
  orqa::TrainerOptions options;
  options.server.grpc_port = 50054;
  options.server.metrics_port = 9154;
  std::string retrievers = "127.0.0.1:50052";
  orqa::DataParallelOptions dp;
  if (absl::Status st = TorchrunDefaults(&dp); !st.ok()) return orqa::ReportFatal(kProgram, st, 2);
  int dp_timeout_s = static_cast<int>(dp.timeout.count());

  orqa::FlagSet flags(kProgram, "Trainer: finetune, pre-training (MLM, ICT) and index-build jobs with a persisted job table.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("state-dir", &options.state_dir, "Directory for the job table (jobs survive restarts).");
  flags.String("retriever", &retrievers,
               "Retriever shard addresses host:port, comma-separated in shard order (training searches all).");
  flags.Int("queue-limit", &options.queue_limit, "Jobs that may wait behind the running one.");
  orqa::AddComputeThreadFlags(flags, &options.threads, /*with_search=*/false);
  orqa::AddPathRootFlags(flags, &options.roots);
  orqa::AddBackendTlsFlags(flags, &options.backend_tls);
  flags.Int("retriever-attempts", &options.retriever_attempts,
            "Tries of a retriever call that fails UNAVAILABLE (0.5 s, 1 s, 2 s, ... apart) before the job fails.");
  flags.Int("rank", &dp.rank,
            "Data parallelism: this trainer's rank (default $RANK, else 0). Rank 0 takes jobs; the others "
            "run the steps of its training jobs with it (BUILD_INDEX runs on rank 0).");
  flags.Int("world-size", &dp.world_size, "Data parallelism: number of trainer ranks (default $WORLD_SIZE, else 1).");
  flags.String("master-addr", &dp.master_addr,
               "Data parallelism: rank 0's host, where its rendezvous store listens (default $MASTER_ADDR).");
  flags.Int("master-port", &dp.master_port, "Data parallelism: the rendezvous store's port (default $MASTER_PORT).");
  flags.Int("dp-timeout-s", &dp_timeout_s,
            "Data parallelism: how long a rank waits for the others in a collective (rank 0 evaluating counts).");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;
  dp.timeout = std::chrono::seconds(dp_timeout_s);

  options.retriever_addresses = absl::StrSplit(retrievers, ',', absl::SkipEmpty());
  absl::Status st = orqa::ValidateServerOptions(options.server);
  if (st.ok()) st = orqa::ResolveBackendTls(options.server.tls, &options.backend_tls);
  if (st.ok() && options.retriever_addresses.empty()) st = absl::InvalidArgumentError("--retriever: must not be empty");
  if (st.ok() && (options.queue_limit < 0 || options.queue_limit > 100000)) {
    st = absl::InvalidArgumentError("--queue-limit: expected 0..100000");
  }
  if (st.ok()) st = orqa::ValidateComputeThreads(options.threads);
  if (st.ok()) st = orqa::ValidatePathRoots(&options.roots);
  if (st.ok()) st = orqa::ValidateCpuLevelCaps();
  if (st.ok() && (options.retriever_attempts < 1 || options.retriever_attempts > 20)) {
    st = absl::InvalidArgumentError("--retriever-attempts: expected 1..20");
  }
  if (st.ok() && (dp.world_size < 1 || dp.world_size > 1024)) {
    st = absl::InvalidArgumentError(absl::StrCat("--world-size: expected 1..1024, got ", dp.world_size));
  }
  if (st.ok() && (dp.rank < 0 || dp.rank >= dp.world_size)) {
    st = absl::InvalidArgumentError(absl::StrCat("--rank: expected 0..", dp.world_size - 1, ", got ", dp.rank));
  }
  if (st.ok() && dp.world_size > 1 && (dp.master_port < 1 || dp.master_port > 65535)) {
    st = absl::InvalidArgumentError(absl::StrCat("--master-port: expected 1..65535, got ", dp.master_port));
  }
  if (st.ok() && dp_timeout_s < 1) st = absl::InvalidArgumentError("--dp-timeout-s: expected >= 1");
  if (st.ok() && dp.world_size > 1 && !orqa::DataParallelAvailable()) {
    st = absl::FailedPreconditionError("--world-size > 1: this build has no c10d Gloo (install libgloo-dev, rebuild)");
  }
  if (st.ok() && dp.rank == 0) st = orqa::CheckWritableDir("--state-dir", options.state_dir);
  if (st.ok()) st = orqa::SetupLogging("trainer", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);
  orqa::ApplyComputeThreads(options.threads);

  orqa::ServiceHost host("trainer", options.server);
  orqa::TrainerMetrics metrics(host.metrics().registry());
  orqa::RetrieverClient retriever(options.retriever_addresses, options.retriever_attempts, options.backend_tls);
  auto run_kind = [&](orqa::JobContext& ctx) -> absl::Status {
    switch (ctx.Snapshot().spec().kind()) {
      case orqa::v1::JOB_KIND_FINETUNE:
        return orqa::RunFinetune(ctx, retriever, &metrics);
      case orqa::v1::JOB_KIND_BUILD_INDEX:
        return orqa::RunBuildIndex(ctx, retriever, &metrics);
      case orqa::v1::JOB_KIND_PRETRAIN_MLM:
        return orqa::RunPretrainMlm(ctx, &metrics);
      case orqa::v1::JOB_KIND_PRETRAIN_ICT:
        return orqa::RunPretrainIct(ctx, &metrics);
      case orqa::v1::JOB_KIND_PRETRAIN_REALM:
        return orqa::RunPretrainRealm(ctx, retriever, &metrics);
      case orqa::v1::JOB_KIND_TRAIN_READER:
        return orqa::RunTrainReader(ctx, retriever, &metrics);
      default:
        return absl::InvalidArgumentError("kind: not a job kind this trainer runs");
    }
  };
  std::unique_ptr<orqa::Rendezvous> rendezvous;
  if (dp.world_size > 1) {
    auto r = orqa::Rendezvous::Connect(dp);
    if (!r.ok()) return orqa::ReportFatal(kProgram, r.status());
    rendezvous = std::move(*r);
    spdlog::info("data-parallel rank {} of {} (rendezvous {}:{})", dp.rank, dp.world_size, dp.master_addr,
                 dp.master_port);
  }

  if (dp.rank > 0) {
    // Another rank: no job API; it runs the steps of the jobs rank 0 announces
    // and serves health and metrics.
    std::atomic<bool> stopping{false};
    host.OnStopping([&stopping] { stopping = true; });
    if (absl::Status s = host.Start(); !s.ok()) return orqa::ReportFatal(kProgram, s);
    host.SetServing("", true);
    absl::Status failure;
    std::thread worker([&] {
      while (!stopping) {
        auto next = rendezvous->NextJob([&] { return stopping.load(); });
        if (!next.ok()) {
          if (next.status().code() != absl::StatusCode::kCancelled) failure = next.status();
          break;
        }
        spdlog::info("job {} ({}): rank {} joins", next->job.job_id(),
                     orqa::v1::JobKind_Name(next->job.spec().kind()), dp.rank);
        WorkerContext ctx(next->job, next->group.get(), &stopping);
        absl::Status st = run_kind(ctx);
        if (st.ok()) {
          spdlog::info("job {}: rank {} done", next->job.job_id(), dp.rank);
        } else {
          spdlog::warn("job {}: rank {} left it: {}", next->job.job_id(), dp.rank, st.ToString());
        }
      }
      if (!failure.ok()) {
        spdlog::error("{}", failure.ToString());
        kill(getpid(), SIGTERM);  // Wait() below returns; the process exits naming the failure
      }
    });
    host.Wait();
    stopping = true;
    worker.join();
    if (!failure.ok()) return orqa::ReportFatal(kProgram, failure);
    return 0;
  }

  auto store = orqa::JobStore::Open(options.state_dir);
  if (!store.ok()) return orqa::ReportFatal(kProgram, store.status());
  orqa::JobManager jobs(*store, options.queue_limit, [&](orqa::JobContext& ctx) -> absl::Status {
    if (rendezvous && SplitsBatches(ctx.Snapshot().spec().kind())) {
      auto group = rendezvous->Announce(ctx.Snapshot());
      if (!group.ok()) return group.status();
      GroupContext with_group(ctx, group->get());
      return run_kind(with_group);
    }
    return run_kind(ctx);
  }, &metrics);
  if (absl::Status s = jobs.Open(); !s.ok()) return orqa::ReportFatal(kProgram, s);

  orqa::TrainerService service(options, &jobs);
  host.AddService(&service);
  host.OnStopping([&jobs] { jobs.RequestStop(); });
  if (absl::Status s = host.Start(); !s.ok()) return orqa::ReportFatal(kProgram, s);
  jobs.Start();
  host.SetServing("", true);
  host.Wait();
  jobs.Join();  // the running job has checkpointed by now or does so before this returns
  return 0;
}
