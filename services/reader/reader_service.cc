#include "services/reader/reader_service.h"

#include "absl/strings/str_cat.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

constexpr int kMaxBlocks = 5000;
constexpr int kMaxSpans = 100;

absl::Status NotLoaded(const char* rpc) {
  return absl::UnimplementedError(
      absl::StrCat(rpc, " is not available in this build: reader model loading is not wired yet"));
}

}  // namespace

grpc::Status ReaderService::Read(grpc::ServerContext*, const orqa::v1::ReadRequest* request,
                                 orqa::v1::ReadResponse*) {
  if (request->question().find_first_not_of(" \t\r\n") == std::string::npos) {
    return ToGrpcStatus(absl::InvalidArgumentError("question: must not be empty"));
  }
  if (request->blocks_size() == 0 || request->blocks_size() > kMaxBlocks) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("blocks: expected 1..", kMaxBlocks, ", got ", request->blocks_size())));
  }
  if (request->num_spans() < 0 || request->num_spans() > kMaxSpans) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("num_spans: expected 1..", kMaxSpans, " (or 0 for 1), got ",
                     request->num_spans())));
  }
  return ToGrpcStatus(NotLoaded("Read"));
}

grpc::Status ReaderService::GetInfo(grpc::ServerContext*, const orqa::v1::GetReaderInfoRequest*,
                                    orqa::v1::ReaderInfo* response) {
  response->set_max_batch_size(options_.max_batch_size);
  response->set_ready(false);
  return grpc::Status::OK;
}

grpc::Status ReaderService::Reload(grpc::ServerContext*,
                                   const orqa::v1::ReloadReaderRequest* request,
                                   orqa::v1::ReaderInfo*) {
  if (request->model_dir().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("model_dir: must not be empty"));
  }
  return ToGrpcStatus(NotLoaded("Reload"));
}

}  // namespace orqa
