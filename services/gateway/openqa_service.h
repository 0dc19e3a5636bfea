#pragma once

#include "orqa/v1/openqa.grpc.pb.h"
#include "services/gateway/gateway_options.h"

namespace orqa {

/// orqa.v1.OpenQA on the gateway. Requests are validated in full; answering
/// needs the retriever → reader pipeline, which this build does not wire yet,
/// so valid requests get UNIMPLEMENTED.
class OpenQAService final : public orqa::v1::OpenQA::Service {
 public:
  explicit OpenQAService(const GatewayOptions& options) : options_(options) {}

  grpc::Status Answer(grpc::ServerContext* context, const orqa::v1::AnswerRequest* request,
                      orqa::v1::AnswerResponse* response) override;
  grpc::Status BatchAnswer(grpc::ServerContext* context,
                           const orqa::v1::BatchAnswerRequest* request,
                           orqa::v1::BatchAnswerResponse* response) override;

 private:
  GatewayOptions options_;
};

}  // namespace orqa
