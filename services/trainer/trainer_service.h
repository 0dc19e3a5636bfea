#pragma once

#include <memory>

#include "common/infra/caller_policy.h"
#include "orqa/v1/trainer.grpc.pb.h"
#include "services/trainer/job_manager.h"
#include "services/trainer/trainer_options.h"

namespace orqa {

/// orqa.v1.Trainer over the job engine: StartJob validates and queues,
/// Get/List/Cancel read and change the table, WatchJob streams every change
/// of a job until it ends.
class TrainerService final : public orqa::v1::Trainer::Service {
 public:
  TrainerService(const TrainerOptions& options, JobManager* jobs) : options_(options), jobs_(jobs) {}

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
  CallerPolicy callers_{options_.server.tls};  // who may call which RPC (mutual TLS)
  JobManager* jobs_;
};

}  // namespace orqa
