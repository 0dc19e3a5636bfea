#include "services/gateway/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

// Compares in time independent of where the first difference is.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string ProbeHealth(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) return "UNREACHABLE";
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
}

absl::Status NotWired(const char* rpc) {
  return absl::UnimplementedError(
      absl::StrCat(rpc, " is not available in this build: the trainer job path is not wired yet"));
}

}  // namespace

absl::Status AdminService::Authorize(const grpc::ServerContext& context) const {
  if (options_.admin_token.empty()) {
    return absl::PermissionDeniedError(
        "Admin API is disabled: start orqa-gateway with --admin-token (ORQA_ADMIN_TOKEN)");
  }
  auto it = context.client_metadata().find("authorization");
  if (it == context.client_metadata().end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  std::string value(it->second.data(), it->second.size());
  const std::string prefix = "Bearer ";
  if (value.rfind(prefix, 0) != 0 ||
      !ConstantTimeEquals(value.substr(prefix.size()), options_.admin_token)) {
    return absl::UnauthenticatedError("invalid admin token");
  }
  return absl::OkStatus();
}

grpc::Status AdminService::StartFinetune(grpc::ServerContext* context,
                                         const orqa::v1::StartFinetuneRequest*, orqa::v1::Job*) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  return ToGrpcStatus(NotWired("StartFinetune"));
}

grpc::Status AdminService::GetJob(grpc::ServerContext* context,
                                  const orqa::v1::GetJobRequest* request, orqa::v1::Job*) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  if (request->job_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("job_id: must not be empty"));
  }
  return ToGrpcStatus(NotWired("GetJob"));
}

grpc::Status AdminService::ListJobs(grpc::ServerContext* context,
                                    const orqa::v1::ListJobsRequest* request,
                                    orqa::v1::ListJobsResponse*) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  if (request->limit() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("limit: expected >= 0, got ", request->limit())));
  }
  return ToGrpcStatus(NotWired("ListJobs"));
}

grpc::Status AdminService::CancelJob(grpc::ServerContext* context,
                                     const orqa::v1::CancelJobRequest* request, orqa::v1::Job*) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  if (request->job_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("job_id: must not be empty"));
  }
  return ToGrpcStatus(NotWired("CancelJob"));
}

grpc::Status AdminService::Deploy(grpc::ServerContext* context,
                                  const orqa::v1::DeployRequest* request,
                                  orqa::v1::DeployResponse*) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  if (request->checkpoint_dir().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("checkpoint_dir: must not be empty"));
  }
  return ToGrpcStatus(absl::UnimplementedError(
      "Deploy is not available in this build: hot reload is not wired yet"));
}

grpc::Status AdminService::GetStatus(grpc::ServerContext* context,
                                     const orqa::v1::GetStatusRequest*,
                                     orqa::v1::GetStatusResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  for (size_t i = 0; i < options_.retriever_addresses.size(); ++i) {
    auto* b = response->add_backends();
    b->set_role("retriever");
    b->set_address(options_.retriever_addresses[i]);
    b->set_shard_index(static_cast<int>(i));
    b->set_health(ProbeHealth(b->address()));
  }
  for (const auto& [role, address] : {std::pair<std::string, std::string>{"reader", options_.reader_address},
                                      {"trainer", options_.trainer_address}}) {
    if (address.empty()) continue;
    auto* b = response->add_backends();
    b->set_role(role);
    b->set_address(address);
    b->set_health(ProbeHealth(address));
  }
  response->set_server_version(ORQA_VERSION);
  return grpc::Status::OK;
}

}  // namespace orqa
