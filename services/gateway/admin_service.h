#pragma once

#include "orqa/v1/admin.grpc.pb.h"
#include "services/gateway/backends.h"
#include "services/gateway/gateway_options.h"

namespace orqa {

/// orqa.v1.Admin on the gateway: every call first checks the bearer token.
/// GetStatus reports each backend's health and model; Deploy hot-swaps a
/// checkpoint into every retriever shard and the reader; the job calls need
/// the trainer, which is not wired yet (UNIMPLEMENTED).
class AdminService final : public orqa::v1::Admin::Service {
 public:
  AdminService(const GatewayOptions& options, Backends* backends) : options_(options), backends_(backends) {}

  grpc::Status StartFinetune(grpc::ServerContext* context,
                             const orqa::v1::StartFinetuneRequest* request,
                             orqa::v1::Job* response) override;
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

  GatewayOptions options_;
  Backends* backends_;
};

}  // namespace orqa
