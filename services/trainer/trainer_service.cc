#include "services/trainer/trainer_service.h"

#include "absl/strings/str_cat.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

absl::Status UnknownJob(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("job_id: must not be empty");
  return absl::NotFoundError(absl::StrCat("job_id: no job '", id, "'"));
}

}  // namespace

absl::Status ValidateJobSpec(const orqa::v1::JobSpec& spec) {
  if (spec.kind() == orqa::v1::JOB_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError("kind: must be JOB_KIND_FINETUNE or JOB_KIND_BUILD_INDEX");
  }
  if (spec.model_dir().empty()) return absl::InvalidArgumentError("model_dir: must not be empty");
  if (spec.kind() == orqa::v1::JOB_KIND_FINETUNE && spec.train_path().empty()) {
    return absl::InvalidArgumentError("train_path: must not be empty for a finetune job");
  }
  if (spec.num_steps() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_steps: expected > 0, got ", spec.num_steps()));
  }
  if (spec.batch_size() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size: expected > 0, got ", spec.batch_size()));
  }
  if (!(spec.learning_rate() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate: expected > 0, got ", spec.learning_rate()));
  }
  if (spec.eval_every_steps() < 0 || spec.searcher_beam_size() < 0) {
    return absl::InvalidArgumentError("eval_every_steps and searcher_beam_size: expected >= 0");
  }
  return absl::OkStatus();
}

grpc::Status TrainerService::StartJob(grpc::ServerContext*, const orqa::v1::JobSpec* request,
                                      orqa::v1::Job*) {
  ORQA_RETURN_GRPC_IF_ERROR(ValidateJobSpec(*request));
  return ToGrpcStatus(absl::UnimplementedError(
      "StartJob is not available in this build: the training loop is not wired yet"));
}

grpc::Status TrainerService::GetJob(grpc::ServerContext*, const orqa::v1::JobId* request,
                                    orqa::v1::Job*) {
  return ToGrpcStatus(UnknownJob(request->job_id()));
}

grpc::Status TrainerService::ListJobs(grpc::ServerContext*,
                                      const orqa::v1::ListTrainerJobsRequest* request,
                                      orqa::v1::JobList*) {
  if (request->limit() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("limit: expected >= 0"));
  }
  return grpc::Status::OK;  // no job can exist yet
}

grpc::Status TrainerService::CancelJob(grpc::ServerContext*, const orqa::v1::JobId* request,
                                       orqa::v1::Job*) {
  return ToGrpcStatus(UnknownJob(request->job_id()));
}

grpc::Status TrainerService::WatchJob(grpc::ServerContext*, const orqa::v1::JobId* request,
                                      grpc::ServerWriter<orqa::v1::JobEvent>*) {
  return ToGrpcStatus(UnknownJob(request->job_id()));
}

}  // namespace orqa
