#include "services/gateway/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "common/infra/request_id.h"
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

// A trainer error as the Admin caller sees it: the code kept, the trainer named
// only when it could not be reached (its own messages already name the field).
grpc::Status FromTrainer(const grpc::Status& st, const std::string& address) {
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return ToGrpcStatus(DownstreamError(st, "trainer", address));
    default:
      return st;
  }
}

}  // namespace

AdminService::AdminService(const GatewayOptions& options, Backends* backends) : options_(options), backends_(backends) {
  if (!options_.trainer_address.empty()) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(64 << 20);  // a long job history
    trainer_ = orqa::v1::Trainer::NewStub(
        grpc::CreateCustomChannel(options_.trainer_address, MakeChannelCredentials(options_.backend_tls), args));
  }
}

absl::StatusOr<orqa::v1::Trainer::Stub*> AdminService::Trainer() const {
  if (!trainer_) return absl::FailedPreconditionError("no trainer: start orqa-gateway with --trainer");
  return trainer_.get();
}

absl::Status AdminService::Authorize(const grpc::ServerContext& context) const {
  // With mutual TLS the caller's certificate must be an operator's (admin) or
  // the REST proxy's (rest, forwarding an operator's call); the token is still required.
  if (absl::Status st = callers_.Allow(context, "orqa.v1.Admin", {"admin", "rest"}); !st.ok()) return st;
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

template <typename Call>
grpc::Status AdminService::OnTrainer(grpc::ServerContext* context, Call&& call) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  auto trainer = Trainer();
  ORQA_RETURN_GRPC_IF_ERROR(trainer.status());
  auto ctx = BackendContext(*context);  // deadline and cancellation reach the trainer
  return FromTrainer(call(**trainer, ctx.get()), options_.trainer_address);
}

grpc::Status AdminService::StartFinetune(grpc::ServerContext* context,
                                         const orqa::v1::StartFinetuneRequest* request, orqa::v1::Job* response) {
  orqa::v1::JobSpec spec = request->spec();
  if (spec.kind() == orqa::v1::JOB_KIND_UNSPECIFIED) spec.set_kind(orqa::v1::JOB_KIND_FINETUNE);
  return OnTrainer(context, [&](orqa::v1::Trainer::Stub& t, grpc::ClientContext* ctx) {
    if (spec.kind() != orqa::v1::JOB_KIND_FINETUNE) {
      return ToGrpcStatus(absl::InvalidArgumentError("spec.kind: StartFinetune starts JOB_KIND_FINETUNE jobs; use StartJob"));
    }
    return t.StartJob(ctx, spec, response);
  });
}

grpc::Status AdminService::StartJob(grpc::ServerContext* context, const orqa::v1::StartJobRequest* request,
                                    orqa::v1::Job* response) {
  return OnTrainer(context, [&](orqa::v1::Trainer::Stub& t, grpc::ClientContext* ctx) {
    return t.StartJob(ctx, request->spec(), response);
  });
}

grpc::Status AdminService::WatchJob(grpc::ServerContext* context, const orqa::v1::WatchJobRequest* request,
                                    grpc::ServerWriter<orqa::v1::JobEvent>* writer) {
  return OnTrainer(context, [&](orqa::v1::Trainer::Stub& t, grpc::ClientContext* ctx) {
    orqa::v1::JobId id;
    id.set_job_id(request->job_id());
    auto reader = t.WatchJob(ctx, id);
    orqa::v1::JobEvent event;
    while (reader->Read(&event)) {
      if (!writer->Write(event)) {
        ctx->TryCancel();
        break;
      }
    }
    return reader->Finish();
  });
}

grpc::Status AdminService::GetJob(grpc::ServerContext* context, const orqa::v1::GetJobRequest* request,
                                  orqa::v1::Job* response) {
  return OnTrainer(context, [&](orqa::v1::Trainer::Stub& t, grpc::ClientContext* ctx) {
    orqa::v1::JobId id;
    id.set_job_id(request->job_id());
    return t.GetJob(ctx, id, response);
  });
}

grpc::Status AdminService::ListJobs(grpc::ServerContext* context, const orqa::v1::ListJobsRequest* request,
                                    orqa::v1::ListJobsResponse* response) {
  return OnTrainer(context, [&](orqa::v1::Trainer::Stub& t, grpc::ClientContext* ctx) {
    orqa::v1::ListTrainerJobsRequest req;
    req.set_limit(request->limit());
    orqa::v1::JobList list;
    grpc::Status st = t.ListJobs(ctx, req, &list);
    if (st.ok()) response->mutable_jobs()->Swap(list.mutable_jobs());
    return st;
  });
}

grpc::Status AdminService::CancelJob(grpc::ServerContext* context, const orqa::v1::CancelJobRequest* request,
                                     orqa::v1::Job* response) {
  return OnTrainer(context, [&](orqa::v1::Trainer::Stub& t, grpc::ClientContext* ctx) {
    orqa::v1::JobId id;
    id.set_job_id(request->job_id());
    return t.CancelJob(ctx, id, response);
  });
}

grpc::Status AdminService::Deploy(grpc::ServerContext* context,
                                  const orqa::v1::DeployRequest* request,
                                  orqa::v1::DeployResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(Authorize(*context));
  std::string checkpoint = request->checkpoint_dir();
  if (!request->weights_path().empty() && !request->job_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("weights_path: goes with checkpoint_dir, not with job_id"));
  }
  if (!request->job_id().empty()) {
    if (!checkpoint.empty()) {
      return ToGrpcStatus(absl::InvalidArgumentError("job_id: give either checkpoint_dir or job_id, not both"));
    }
    auto trainer = Trainer();
    ORQA_RETURN_GRPC_IF_ERROR(trainer.status());
    orqa::v1::JobId id;
    id.set_job_id(request->job_id());
    orqa::v1::Job job;
    auto ctx = BackendContext(*context);
    grpc::Status st = (*trainer)->GetJob(ctx.get(), id, &job);
    if (!st.ok()) return FromTrainer(st, options_.trainer_address);
    checkpoint = !job.best_checkpoint_dir().empty() ? job.best_checkpoint_dir() : job.checkpoint_dir();
    if (checkpoint.empty()) {
      return ToGrpcStatus(absl::FailedPreconditionError(
          absl::StrCat("job_id: job ", job.job_id(), " has written no checkpoint yet (state ",
                       orqa::v1::JobState_Name(job.state()), ")")));
    }
  }
  if (checkpoint.empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("checkpoint_dir: must not be empty (or give job_id)"));
  }
  const bool both = !request->embedder() && !request->reader();
  if (both || request->embedder()) {
    for (size_t i = 0; i < backends_->num_shards(); ++i) {
      auto ctx = BackendContext(*context);
      orqa::v1::ReloadRequest req;
      req.set_embedder_dir(checkpoint);
      req.set_weights_path(request->weights_path());
      orqa::v1::ReloadResponse resp;
      grpc::Status st = backends_->retriever(i).Reload(ctx.get(), req, &resp);
      if (!st.ok()) {
        return ToGrpcStatus(DownstreamError(st, absl::StrCat("retriever shard ", i), backends_->retriever_address(i)));
      }
      *response->mutable_embedder() = resp.info().embedder();
    }
  }
  if (both || request->reader()) {
    auto ctx = BackendContext(*context);
    orqa::v1::ReloadReaderRequest req;
    req.set_model_dir(checkpoint);
    req.set_weights_path(request->weights_path());
    orqa::v1::ReaderInfo info;
    grpc::Status st = backends_->reader().Reload(ctx.get(), req, &info);
    if (!st.ok()) return ToGrpcStatus(DownstreamError(st, "reader", backends_->reader_address()));
    *response->mutable_reader() = info.model();
  }
  response->set_checkpoint_dir(checkpoint);
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
    b->set_arithmetic(s.arithmetic);
    total += s.num_blocks;
  }
  BackendState r = backends_->reader_state();
  auto* b = response->add_backends();
  b->set_role("reader");
  b->set_address(backends_->reader_address());
  b->set_health(r.health);
  b->mutable_model()->set_version(r.version);
  b->set_arithmetic(r.arithmetic);
  if (!options_.trainer_address.empty()) {
    auto* t = response->add_backends();
    t->set_role("trainer");
    t->set_address(options_.trainer_address);
    t->set_health(HealthOf(grpc::CreateChannel(options_.trainer_address, MakeChannelCredentials(options_.backend_tls))));
  }
  response->set_total_blocks(total);
  response->set_server_version(ORQA_VERSION);
  return grpc::Status::OK;
}

}  // namespace orqa
