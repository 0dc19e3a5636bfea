#pragma once

#include "orqa/v1/trainer.grpc.pb.h"
#include "services/trainer/trainer_options.h"

namespace orqa {

/// orqa.v1.Trainer. Job specs are validated; running jobs needs the training
/// loop, which this build does not have yet, so StartJob is UNIMPLEMENTED and
/// the job table is empty.
class TrainerService final : public orqa::v1::Trainer::Service {
 public:
  explicit TrainerService(const TrainerOptions& options) : options_(options) {}

  grpc::Status StartJob(grpc::ServerContext* context, const orqa::v1::JobSpec* request,
                        orqa::v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const orqa::v1::JobId* request,
                      orqa::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context,
                        const orqa::v1::ListTrainerJobsRequest* request,
                        orqa::v1::JobList* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const orqa::v1::JobId* request,
                         orqa::v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const orqa::v1::JobId* request,
                        grpc::ServerWriter<orqa::v1::JobEvent>* writer) override;

 private:
  TrainerOptions options_;
};

/// Checks a job spec; the error names the first bad field.
absl::Status ValidateJobSpec(const orqa::v1::JobSpec& spec);

}  // namespace orqa
