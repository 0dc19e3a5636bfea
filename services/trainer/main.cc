// orqa-trainer: finetune and index-build jobs.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "absl/strings/str_split.h"
#include "common/infra/tensor_allocator.h"
#include "common/infra/logging.h"
#include "common/infra/main_util.h"
#include "common/infra/service_host.h"
#include "common/infra/status_util.h"
#include "services/trainer/build_index_job.h"
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
}  // namespace

int main(int argc, char** argv) {
  orqa::KeepTensorAllocationsInHeap();  // before any tensor exists
  orqa::BlockTerminationSignals();
  orqa::TrainerOptions options;
  options.server.grpc_port = 50054;
  options.server.metrics_port = 9154;
  std::string retrievers = "127.0.0.1:50052";

  orqa::FlagSet flags(kProgram, "Trainer: finetune, pre-training (MLM, ICT) and index-build jobs with a persisted job table.");
  orqa::AddServerFlags(flags, &options.server);
  flags.String("state-dir", &options.state_dir, "Directory for the job table (jobs survive restarts).");
  flags.String("retriever", &retrievers,
               "Retriever shard addresses host:port, comma-separated in shard order (training searches all).");
  flags.Int("queue-limit", &options.queue_limit, "Jobs that may wait behind the running one.");
  flags.Int("torch-threads", &options.torch_threads, "LibTorch intra-op threads of a running job.");
  flags.Int("retriever-attempts", &options.retriever_attempts,
            "Tries of a retriever call that fails UNAVAILABLE (0.5 s, 1 s, 2 s, ... apart) before the job fails.");
  if (auto code = orqa::ParseFlagsOrExit(flags, argc, argv, kProgram)) return *code;

  options.retriever_addresses = absl::StrSplit(retrievers, ',', absl::SkipEmpty());
  absl::Status st = orqa::ValidateServerOptions(options.server);
  if (st.ok() && options.retriever_addresses.empty()) st = absl::InvalidArgumentError("--retriever: must not be empty");
  if (st.ok() && (options.queue_limit < 0 || options.queue_limit > 100000)) {
    st = absl::InvalidArgumentError("--queue-limit: expected 0..100000");
  }
  if (st.ok() && (options.torch_threads < 1 || options.torch_threads > 256)) {
    st = absl::InvalidArgumentError("--torch-threads: expected 1..256");
  }
  if (st.ok() && (options.retriever_attempts < 1 || options.retriever_attempts > 20)) {
    st = absl::InvalidArgumentError("--retriever-attempts: expected 1..20");
  }
  if (st.ok()) st = orqa::CheckWritableDir("--state-dir", options.state_dir);
  if (st.ok()) st = orqa::SetupLogging("trainer", options.server.log_format, options.server.log_level);
  if (!st.ok()) return orqa::ReportFatal(kProgram, st, 2);
  torch::set_num_threads(options.torch_threads);

  auto store = orqa::JobStore::Open(options.state_dir);
  if (!store.ok()) return orqa::ReportFatal(kProgram, store.status());
  orqa::ServiceHost host("trainer", options.server);
  orqa::TrainerMetrics metrics(host.metrics().registry());
  orqa::RetrieverClient retriever(options.retriever_addresses, options.retriever_attempts);
  orqa::JobManager jobs(*store, options.queue_limit, [&](orqa::JobContext& ctx) -> absl::Status {
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
