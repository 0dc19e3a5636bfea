#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <memory>
#include <mutex>

#include "common/infra/caller_policy.h"
#include "common/batching/batcher.h"
#include "common/batching/batching_metrics.h"
#include "common/infra/metrics.h"
#include "common/model/span_reader.h"
#include "orqa/v1/reader.grpc.pb.h"
#include "services/reader/reader_options.h"

namespace orqa {

/// orqa.v1.Reader: concurrent Read calls are batched into one forward pass;
/// a call whose deadline passes while queued is dropped, not computed.
class ReaderService final : public orqa::v1::Reader::Service {
 public:
  ReaderService(const ReaderOptions& options, Metrics* metrics);
  ~ReaderService() override;

  void SetModel(std::shared_ptr<SpanReader> model);
  bool ready() const;
  void OnReady(std::function<void(bool)> fn) { on_ready_ = std::move(fn); }

  grpc::Status Read(grpc::ServerContext* context, const orqa::v1::ReadRequest* request,
                    orqa::v1::ReadResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context, const orqa::v1::GetReaderInfoRequest* request,
                       orqa::v1::ReaderInfo* response) override;
  grpc::Status Reload(grpc::ServerContext* context, const orqa::v1::ReloadReaderRequest* request,
                      orqa::v1::ReaderInfo* response) override;

  struct Result {
    std::vector<ReaderSpan> spans;
    double forward_ms = 0;
    std::chrono::steady_clock::time_point computed_at;
  };

 private:
  std::shared_ptr<SpanReader> Model() const;
  std::vector<absl::StatusOr<Result>> RunBatch(const std::vector<const ReaderQuery*>& batch);
  void FillInfo(orqa::v1::ReaderInfo* info) const;

  ReaderOptions options_;
  CallerPolicy callers_{options_.server.tls};  // who may call which RPC (mutual TLS)
  mutable std::mutex mu_;  // guards model_
  std::shared_ptr<SpanReader> model_;
  std::mutex reload_mu_;
  std::function<void(bool)> on_ready_;
  int64_t loaded_at_unix_s_ = 0;

  prometheus::Histogram* forward_seconds_;
  prometheus::Gauge* tokens_per_second_;
  prometheus::Counter* tokens_;
  prometheus::Family<prometheus::Gauge>* model_info_;
  prometheus::Family<prometheus::Counter>* reloads_;
  prometheus::Gauge* current_model_info_ = nullptr;

  BatchingMetrics batching_;
  std::unique_ptr<Batcher<ReaderQuery, Result>> batcher_;
};

}  // namespace orqa
