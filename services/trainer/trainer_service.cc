#include "services/trainer/trainer_service.h"

#include <grpcpp/grpcpp.h>

#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/fetch/model_source.h"
#include "common/infra/status_util.h"
#include "services/trainer/job_validation.h"
#include "services/trainer/retriever_client.h"

namespace orqa {
namespace {

absl::Status CheckId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("job_id: must not be empty");
  return absl::OkStatus();
}

}  // namespace

grpc::Status TrainerService::StartJob(grpc::ServerContext* context, const orqa::v1::JobSpec* request,
                                      orqa::v1::Job* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Trainer/StartJob", {"gateway"}));
  ORQA_RETURN_GRPC_IF_ERROR(ValidateJobSpec(*request));
  // A Hub model id as the starting model: its cached snapshot (a request does
  // not start a download); the job records the folder it started from.
  orqa::v1::JobSpec spec = *request;
  auto model_dir = ResolveModelPath(spec.model_dir(), "model_dir", /*download=*/false);
  ORQA_RETURN_GRPC_IF_ERROR(model_dir.status());
  spec.set_model_dir(*model_dir);
  // Paths from the request stay inside the configured roots (checked before anything is opened or created).
  const PathRoots& roots = options_.roots;
  for (const auto& [field, path, root, flag] :
       {std::tuple{"model_dir", spec.model_dir(), roots.model, "--model-root"},
        std::tuple{"weights_path", spec.weights_path(), roots.model, "--model-root"},
        std::tuple{"train_path", spec.train_path(), roots.data, "--data-root"},
        std::tuple{"eval_path", spec.eval_path(), roots.data, "--data-root"},
        std::tuple{"blocks_path", spec.blocks_path(), roots.data, "--data-root"},
        std::tuple{"text_path", spec.text_path(), roots.data, "--data-root"},
        std::tuple{"output_dir", spec.output_dir(), roots.output, "--output-root"},
        std::tuple{"embeddings_path", spec.embeddings_path(), roots.output, "--output-root"}}) {
    ORQA_RETURN_GRPC_IF_ERROR(CheckUnderRoot(field, path, root, flag));
  }
  RetrieverClient probe(options_.retriever_addresses, /*attempts=*/1);
  ORQA_RETURN_GRPC_IF_ERROR(CheckJobInputs(spec, &probe));
  auto job = jobs_->Submit(spec);
  ORQA_RETURN_GRPC_IF_ERROR(job.status());
  *response = *job;
  return grpc::Status::OK;
}

grpc::Status TrainerService::GetJob(grpc::ServerContext* context, const orqa::v1::JobId* request,
                                    orqa::v1::Job* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Trainer/GetJob", {"gateway"}));
  ORQA_RETURN_GRPC_IF_ERROR(CheckId(request->job_id()));
  auto job = jobs_->Get(request->job_id());
  ORQA_RETURN_GRPC_IF_ERROR(job.status());
  *response = *job;
  return grpc::Status::OK;
}

grpc::Status TrainerService::ListJobs(grpc::ServerContext* context,
                                      const orqa::v1::ListTrainerJobsRequest* request,
                                      orqa::v1::JobList* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Trainer/ListJobs", {"gateway"}));
  if (request->limit() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("limit: expected >= 0, got ", request->limit())));
  }
  for (auto& j : jobs_->List(request->limit() == 0 ? 100 : request->limit())) *response->add_jobs() = std::move(j);
  return grpc::Status::OK;
}

grpc::Status TrainerService::CancelJob(grpc::ServerContext* context, const orqa::v1::JobId* request,
                                       orqa::v1::Job* response) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Trainer/CancelJob", {"gateway"}));
  ORQA_RETURN_GRPC_IF_ERROR(CheckId(request->job_id()));
  auto job = jobs_->Cancel(request->job_id(), std::chrono::seconds(60));
  ORQA_RETURN_GRPC_IF_ERROR(job.status());
  *response = *job;
  return grpc::Status::OK;
}

grpc::Status TrainerService::WatchJob(grpc::ServerContext* context, const orqa::v1::JobId* request,
                                      grpc::ServerWriter<orqa::v1::JobEvent>* writer) {
  ORQA_RETURN_GRPC_IF_ERROR(callers_.Allow(*context, "orqa.v1.Trainer/WatchJob", {"gateway"}));
  ORQA_RETURN_GRPC_IF_ERROR(CheckId(request->job_id()));
  ORQA_RETURN_GRPC_IF_ERROR(jobs_->Get(request->job_id()).status());
  uint64_t version = 0;
  auto gone = [context] { return context->IsCancelled(); };
  while (true) {
    orqa::v1::JobEvent event;
    const auto remaining = context->deadline() - std::chrono::system_clock::now();  // max() without a deadline
    const auto until = std::chrono::steady_clock::now() +
                       (remaining > std::chrono::hours(24 * 365)
                            ? std::chrono::steady_clock::duration(std::chrono::hours(24 * 365))
                            : std::chrono::duration_cast<std::chrono::steady_clock::duration>(remaining));
    if (!jobs_->WaitForChange(request->job_id(), &version, event.mutable_job(), event.mutable_message(), until, gone)) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      if (jobs_->stopping()) return ToGrpcStatus(absl::UnavailableError("the trainer is shutting down"));
      return ToGrpcStatus(absl::DeadlineExceededError("deadline reached while watching the job"));
    }
    if (!writer->Write(event)) return grpc::Status::CANCELLED;
    if (JobManager::Ended(event.job().state())) return grpc::Status::OK;
  }
}

}  // namespace orqa
