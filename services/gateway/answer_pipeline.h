#pragma once

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/status.h"
#include "orqa/v1/openqa.pb.h"
#include "services/gateway/backends.h"

namespace orqa {

/// One question's parameters after defaults are applied.
struct AnswerParams {
  std::string question;
  int k = 0;            // blocks to retrieve
  int num_answers = 1;
  bool return_retrieved = false;
  bool return_timings = false;
  int read_k = 0;       // blocks to read, the best of the k; 0 = all k
};

/// question → Retrieve on every shard (in parallel, exact merge) → Read →
/// answers with evidence. Every downstream call inherits the client's
/// deadline and cancellation; a backend that is down gives UNAVAILABLE naming it.
class AnswerPipeline {
 public:
  explicit AnswerPipeline(Backends* backends) : backends_(backends) {}
  absl::Status Answer(grpc::ServerContext* context, const AnswerParams& params,
                      orqa::v1::AnswerResponse* response) const;

 private:
  Backends* backends_;
};

}  // namespace orqa
