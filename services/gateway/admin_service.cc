#include "services/gateway/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
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
                                  orqa::v1::DeployResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  if (request->checkpoint_dir().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("checkpoint_dir: must not be empty"));
  }
  const bool both = !request->embedder() && !request->reader();
  if (both || request->embedder()) {
    for (size_t i = 0; i < backends_->num_shards(); ++i) {
      auto ctx = grpc::ClientContext::FromServerContext(*context);
      orqa::v1::ReloadRequest req;
      req.set_embedder_dir(request->checkpoint_dir());
      orqa::v1::ReloadResponse resp;
      grpc::Status st = backends_->retriever(i).Reload(ctx.get(), req, &resp);
      if (!st.ok()) {
        return ToGrpcStatus(DownstreamError(st, absl::StrCat("retriever shard ", i), backends_->retriever_address(i)));
      }
      *response->mutable_embedder() = resp.info().embedder();
    }
  }
  if (both || request->reader()) {
    auto ctx = grpc::ClientContext::FromServerContext(*context);
    orqa::v1::ReloadReaderRequest req;
    req.set_model_dir(request->checkpoint_dir());
    orqa::v1::ReaderInfo info;
    grpc::Status st = backends_->reader().Reload(ctx.get(), req, &info);
    if (!st.ok()) return ToGrpcStatus(DownstreamError(st, "reader", backends_->reader_address()));
    *response->mutable_reader() = info.model();
  }
  backends_->Refresh();
  return grpc::Status::OK;
}

grpc::Status AdminService::GetStatus(grpc::ServerContext* context, const orqa::v1::GetStatusRequest*,
                                     orqa::v1::GetStatusResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  backends_->Refresh();
  int64_t total = 0;
  for (size_t i = 0; i < backends_->num_shards(); ++i) {
    BackendState s = backends_->shard_state(i);
    auto* b = response->add_backends();
    b->set_role("retriever");
    b->set_address(backends_->retriever_address(i));
    b->set_shard_index(static_cast<int>(i));
    b->set_health(s.health);
    b->mutable_model()->set_version(s.version);
    b->set_num_blocks(s.num_blocks);
    b->set_first_block_id(s.first_block_id);
    total += s.num_blocks;
  }
  BackendState r = backends_->reader_state();
  auto* b = response->add_backends();
  b->set_role("reader");
  b->set_address(backends_->reader_address());
  b->set_health(r.health);
  b->mutable_model()->set_version(r.version);
  if (!options_.trainer_address.empty()) {
    auto* t = response->add_backends();
    t->set_role("trainer");
    t->set_address(options_.trainer_address);
    t->set_health(HealthOf(grpc::CreateChannel(options_.trainer_address, grpc::InsecureChannelCredentials())));
  }
  response->set_total_blocks(total);
  response->set_server_version(ORQA_VERSION);
  return grpc::Status::OK;
}

}  // namespace orqa
