#pragma once

#include <memory>

#include "common/infra/caller_policy.h"
#include "absl/status/statusor.h"
#include "orqa/v1/admin.grpc.pb.h"
#include "orqa/v1/trainer.grpc.pb.h"
#include "services/gateway/backends.h"
#include "services/gateway/gateway_options.h"

namespace orqa {

/// orqa.v1.Admin on the gateway: every call first checks the bearer token.
/// GetStatus reports each backend's health and model; Deploy hot-swaps a
/// checkpoint (a directory, or a trainer job's best one) into every retriever
/// shard and the reader; the job calls are forwarded to the trainer.
class AdminService final : public orqa::v1::Admin::Service {
 public:
  AdminService(const GatewayOptions& options, Backends* backends);

  grpc::Status StartFinetune(grpc::ServerContext* context,
                             const orqa::v1::StartFinetuneRequest* request,
                             orqa::v1::Job* response) override;
  grpc::Status StartJob(grpc::ServerContext* context, const orqa::v1::StartJobRequest* request,
                        orqa::v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const orqa::v1::WatchJobRequest* request,
                        grpc::ServerWriter<orqa::v1::JobEvent>* writer) override;
  grpc::Status GetJob(grpc::ServerContext* context, const orqa::v1::GetJobRequest* request,
                      orqa::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const orqa::v1::ListJobsRequest* request,
                        orqa::v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const orqa::v1::CancelJobRequest* request,
                         orqa::v1::Job* response) override;
  grpc::Status Deploy(grpc::ServerContext* context, const orqa::v1::DeployRequest* request,
                      orqa::v1::DeployResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const orqa::v1::GetStatusRequest* request,
                         orqa::v1::GetStatusResponse* response) override;

 private:
  absl::Status Authorize(const grpc::ServerContext& context) const;
  /// The trainer stub, or FAILED_PRECONDITION when the gateway has none.
  absl::StatusOr<orqa::v1::Trainer::Stub*> Trainer() const;
  /// Authorizes, then runs `call(trainer stub, client context)` with the
  /// caller's deadline and cancellation; trainer errors keep their code.
  template <typename Call>
  grpc::Status OnTrainer(grpc::ServerContext* context, Call&& call);

  GatewayOptions options_;
  CallerPolicy callers_{options_.server.tls};  // Admin: roles admin and rest (mutual TLS)
  Backends* backends_;
  std::unique_ptr<orqa::v1::Trainer::Stub> trainer_;
};

}  // namespace orqa
