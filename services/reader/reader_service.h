#pragma once

#include "orqa/v1/reader.grpc.pb.h"
#include "services/reader/reader_options.h"

namespace orqa {

/// orqa.v1.Reader. Requests are validated; span extraction needs a loaded
/// reader model, which this build does not load yet (UNIMPLEMENTED).
class ReaderService final : public orqa::v1::Reader::Service {
 public:
  explicit ReaderService(const ReaderOptions& options) : options_(options) {}

  grpc::Status Read(grpc::ServerContext* context, const orqa::v1::ReadRequest* request,
                    orqa::v1::ReadResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context,
                       const orqa::v1::GetReaderInfoRequest* request,
                       orqa::v1::ReaderInfo* response) override;
  grpc::Status Reload(grpc::ServerContext* context,
                      const orqa::v1::ReloadReaderRequest* request,
                      orqa::v1::ReaderInfo* response) override;

 private:
  ReaderOptions options_;
};

}  // namespace orqa
