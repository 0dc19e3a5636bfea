#include "services/gateway/openqa_service.h"

#include "absl/strings/str_cat.h"
#include "common/infra/status_util.h"
#include "services/gateway/request_validation.h"

namespace orqa {
namespace {

absl::Status NotWired(const char* rpc) {
  return absl::UnimplementedError(absl::StrCat(
      rpc, " is not available in this build: the retriever/reader pipeline is not wired yet"));
}

}  // namespace

grpc::Status OpenQAService::Answer(grpc::ServerContext*, const orqa::v1::AnswerRequest* request,
                                   orqa::v1::AnswerResponse*) {
  if (absl::Status st = ValidateQuestion("question", request->question()); !st.ok()) {
    return ToGrpcStatus(st);
  }
  if (absl::Status st = ValidateAnswerLimits(request->k(), request->num_answers()); !st.ok()) {
    return ToGrpcStatus(st);
  }
  return ToGrpcStatus(NotWired("Answer"));
}

grpc::Status OpenQAService::BatchAnswer(grpc::ServerContext*,
                                        const orqa::v1::BatchAnswerRequest* request,
                                        orqa::v1::BatchAnswerResponse*) {
  if (request->questions_size() == 0 || request->questions_size() > kMaxBatchQuestions) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "questions: expected 1..", kMaxBatchQuestions, " questions, got ",
        request->questions_size())));
  }
  for (int i = 0; i < request->questions_size(); ++i) {
    absl::Status st = ValidateQuestion(absl::StrCat("questions[", i, "]"), request->questions(i));
    if (!st.ok()) return ToGrpcStatus(st);
  }
  if (absl::Status st = ValidateAnswerLimits(request->k(), request->num_answers()); !st.ok()) {
    return ToGrpcStatus(st);
  }
  return ToGrpcStatus(NotWired("BatchAnswer"));
}

}  // namespace orqa
