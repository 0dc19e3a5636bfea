#pragma once

#include "orqa/v1/retriever.grpc.pb.h"
#include "services/retriever/retriever_options.h"

namespace orqa {

/// orqa.v1.Retriever. Requests are validated; embedding and search need a
/// loaded model and index, which this build does not load yet, so valid
/// Retrieve/Search/Reload calls get FAILED_PRECONDITION / UNIMPLEMENTED.
class RetrieverService final : public orqa::v1::Retriever::Service {
 public:
  explicit RetrieverService(const RetrieverOptions& options) : options_(options) {}

  grpc::Status Retrieve(grpc::ServerContext* context, const orqa::v1::RetrieveRequest* request,
                        orqa::v1::RetrieveResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const orqa::v1::SearchRequest* request,
                      orqa::v1::SearchResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context, const orqa::v1::GetInfoRequest* request,
                       orqa::v1::RetrieverInfo* response) override;
  grpc::Status Reload(grpc::ServerContext* context, const orqa::v1::ReloadRequest* request,
                      orqa::v1::ReloadResponse* response) override;

 private:
  RetrieverOptions options_;
};

}  // namespace orqa
