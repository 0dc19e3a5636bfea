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
        backends_(backends),
        pipeline_(backends, FusionOptions{options.fusion == "weighted", options.fusion_weight, options.rrf_c}) {}

  grpc::Status Answer(grpc::ServerContext* context, const orqa::v1::AnswerRequest* request,
                      orqa::v1::AnswerResponse* response) override;
  grpc::Status BatchAnswer(grpc::ServerContext* context, const orqa::v1::BatchAnswerRequest* request,
                           orqa::v1::BatchAnswerResponse* response) override;

 private:
  // The request's k, or for k = 0 the --default-k, capped at the blocks served
  // (a small corpus behind the default is not an error; an explicit k beyond it is).
  int EffectiveK(int requested) const;

  GatewayOptions options_;
  Backends* backends_;
  AnswerPipeline pipeline_;
};

}  // namespace orqa
