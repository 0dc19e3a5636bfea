#include "services/retriever/retriever_service.h"

#include "absl/strings/str_cat.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

constexpr int kMaxK = 5000;

absl::Status ValidateK(int k) {
  if (k < 1 || k > kMaxK) {
    return absl::InvalidArgumentError(absl::StrCat("k: expected 1..", kMaxK, ", got ", k));
  }
  return absl::OkStatus();
}

absl::Status NotLoaded(const char* rpc) {
  return absl::UnimplementedError(absl::StrCat(
      rpc, " is not available in this build: embedder and index loading are not wired yet"));
}

}  // namespace

grpc::Status RetrieverService::Retrieve(grpc::ServerContext*,
                                        const orqa::v1::RetrieveRequest* request,
                                        orqa::v1::RetrieveResponse*) {
  if (request->question().find_first_not_of(" \t\r\n") == std::string::npos) {
    return ToGrpcStatus(absl::InvalidArgumentError("question: must not be empty"));
  }
  ORQA_RETURN_GRPC_IF_ERROR(ValidateK(request->k()));
  return ToGrpcStatus(NotLoaded("Retrieve"));
}

grpc::Status RetrieverService::Search(grpc::ServerContext*, const orqa::v1::SearchRequest* request,
                                      orqa::v1::SearchResponse*) {
  if (request->queries_size() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("queries: at least one vector is required"));
  }
  ORQA_RETURN_GRPC_IF_ERROR(ValidateK(request->k()));
  return ToGrpcStatus(NotLoaded("Search"));
}

grpc::Status RetrieverService::GetInfo(grpc::ServerContext*, const orqa::v1::GetInfoRequest*,
                                       orqa::v1::RetrieverInfo* response) {
  response->set_shard_index(options_.shard_index);
  response->set_num_shards(options_.num_shards);
  response->set_index_type(options_.index_type);
  response->set_ready(false);
  return grpc::Status::OK;
}

grpc::Status RetrieverService::Reload(grpc::ServerContext*, const orqa::v1::ReloadRequest* request,
                                      orqa::v1::ReloadResponse*) {
  if (request->embedder_dir().empty() && request->embeddings_path().empty()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("embedder_dir and embeddings_path: at least one is required"));
  }
  return ToGrpcStatus(NotLoaded("Reload"));
}

}  // namespace orqa
