#include "services/gateway/openqa_service.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "common/infra/status_util.h"
#include "common/infra/request_validation.h"

namespace orqa {
namespace {

// Questions of one BatchAnswer in flight at once; the retriever and reader
// batch these concurrent calls into shared forward passes.
constexpr size_t kBatchConcurrency = 16;

// The request's retrieval mode, or the gateway's default.
orqa::v1::RetrievalMode ResolveMode(orqa::v1::RetrievalMode requested, const std::string& default_mode) {
  if (requested != orqa::v1::RETRIEVAL_MODE_UNSPECIFIED) return requested;
  if (default_mode == "sparse") return orqa::v1::RETRIEVAL_MODE_SPARSE;
  if (default_mode == "hybrid") return orqa::v1::RETRIEVAL_MODE_HYBRID;
  return orqa::v1::RETRIEVAL_MODE_DENSE;
}

absl::Status ValidateMode(orqa::v1::RetrievalMode mode) {
  if (!orqa::v1::RetrievalMode_IsValid(mode)) {
    return absl::InvalidArgumentError(absl::StrCat("retrieval: unknown mode ", static_cast<int>(mode)));
  }
  return absl::OkStatus();
}

absl::Status ValidateReadK(int read_k, int k) {
  if (read_k < 0 || read_k > k) {
    return absl::InvalidArgumentError(absl::StrCat("read_k: expected 0 (all) or 1..k (", k, "), got ", read_k));
  }
  return absl::OkStatus();
}

}  // namespace

int OpenQAService::EffectiveK(int requested) const {
  if (requested > 0) return requested;
  int64_t total = 0;
  for (size_t i = 0; i < backends_->num_shards(); ++i) {
    const int64_t blocks = backends_->shard_state(i).num_blocks;
    if (blocks <= 0) return options_.default_k;  // not known yet: the pipeline checks
    total += blocks;
  }
  return total > 0 ? static_cast<int>(std::min<int64_t>(options_.default_k, total)) : options_.default_k;
}

grpc::Status OpenQAService::Answer(grpc::ServerContext* context, const orqa::v1::AnswerRequest* request,
                                   orqa::v1::AnswerResponse* response) {
  ORQA_RETURN_GRPC_IF_ERROR(ValidateQuestion("question", request->question()));
  ORQA_RETURN_GRPC_IF_ERROR(ValidateAnswerLimits(request->k(), request->num_answers()));
  const int k = EffectiveK(request->k());
  ORQA_RETURN_GRPC_IF_ERROR(ValidateReadK(request->read_k(), k));
  ORQA_RETURN_GRPC_IF_ERROR(ValidateMode(request->retrieval()));
  AnswerParams p{request->question(), k,
                 std::max(1, request->num_answers()), request->return_retrieved(), request->return_timings(),
                 request->read_k(), ResolveMode(request->retrieval(), options_.retrieval)};
  return ToGrpcStatus(pipeline_.Answer(context, p, response));
}

grpc::Status OpenQAService::BatchAnswer(grpc::ServerContext* context, const orqa::v1::BatchAnswerRequest* request,
                                        orqa::v1::BatchAnswerResponse* response) {
  if (request->questions_size() == 0 || request->questions_size() > kMaxBatchQuestions) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "questions: expected 1..", kMaxBatchQuestions, " questions, got ", request->questions_size())));
  }
  for (int i = 0; i < request->questions_size(); ++i) {
    ORQA_RETURN_GRPC_IF_ERROR(ValidateQuestion(absl::StrCat("questions[", i, "]"), request->questions(i)));
  }
  ORQA_RETURN_GRPC_IF_ERROR(ValidateAnswerLimits(request->k(), request->num_answers()));
  const int k = EffectiveK(request->k());
  ORQA_RETURN_GRPC_IF_ERROR(ValidateReadK(request->read_k(), k));
  ORQA_RETURN_GRPC_IF_ERROR(ValidateMode(request->retrieval()));
  const int n = request->questions_size();
  std::vector<orqa::v1::AnswerResponse> results(n);
  std::vector<absl::Status> statuses(n);
  for (int start = 0; start < n; start += kBatchConcurrency) {
    std::vector<std::future<void>> running;
    for (int i = start; i < std::min<int>(n, start + kBatchConcurrency); ++i) {
      running.push_back(std::async(std::launch::async, [&, i] {
        AnswerParams p{request->questions(i), k,
                       std::max(1, request->num_answers()), request->return_retrieved(), request->return_timings(),
                       request->read_k(), ResolveMode(request->retrieval(), options_.retrieval)};
        statuses[i] = pipeline_.Answer(context, p, &results[i]);
      }));
    }
    for (auto& f : running) f.get();
  }
  for (int i = 0; i < n; ++i) {
    if (!statuses[i].ok()) {
      return ToGrpcStatus(absl::Status(statuses[i].code(), absl::StrCat("questions[", i, "]: ", statuses[i].message())));
    }
  }
  for (auto& r : results) *response->add_responses() = std::move(r);
  return grpc::Status::OK;
}

}  // namespace orqa
