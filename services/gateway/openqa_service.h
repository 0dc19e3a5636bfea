#pragma once

#include "orqa/v1/openqa.grpc.pb.h"
#include "services/gateway/answer_pipeline.h"
#include "services/gateway/gateway_options.h"

namespace orqa {

/// orqa.v1.OpenQA on the gateway: validation, defaults, then the pipeline.
class OpenQAService final : public orqa::v1::OpenQA::Service {
 public:
  OpenQAService(const GatewayOptions& options, Backends* backends)
      : options_(options),
        pipeline_(backends, FusionOptions{options.fusion == "weighted", options.fusion_weight, options.rrf_c}) {}

  grpc::Status Answer(grpc::ServerContext* context, const orqa::v1::AnswerRequest* request,
                      orqa::v1::AnswerResponse* response) override;
  grpc::Status BatchAnswer(grpc::ServerContext* context, const orqa::v1::BatchAnswerRequest* request,
                           orqa::v1::BatchAnswerResponse* response) override;

 private:
  GatewayOptions options_;
  AnswerPipeline pipeline_;
};

}  // namespace orqa
