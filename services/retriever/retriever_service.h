#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <memory>
#include <mutex>

#include "common/infra/caller_policy.h"
#include "common/batching/batcher.h"
#include "common/batching/batching_metrics.h"
#include "common/index/bm25_index.h"
#include "common/infra/metrics.h"
#include "orqa/v1/retriever.grpc.pb.h"
#include "services/retriever/retriever_options.h"
#include "services/retriever/retriever_state.h"

namespace orqa {

/// orqa.v1.Retriever: concurrent Retrieve calls are batched (one embedder
/// forward and one search per batch); Reload swaps the whole state at once.
class RetrieverService final : public orqa::v1::Retriever::Service {
 public:
  RetrieverService(const RetrieverOptions& options, Metrics* metrics);
  ~RetrieverService() override;

  /// Installs an initial state (from main, before serving).
  void SetState(std::shared_ptr<const RetrieverState> state);
  /// Installs the BM25 index used for sparse Retrieve calls.
  void SetBm25(std::shared_ptr<const Bm25Index> bm25) { bm25_ = std::move(bm25); }
  bool ready() const;
  /// Called after every successful reload (to flip health).
  void OnReady(std::function<void(bool)> fn) { on_ready_ = std::move(fn); }

  grpc::Status Retrieve(grpc::ServerContext* context, const orqa::v1::RetrieveRequest* request,
                        orqa::v1::RetrieveResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const orqa::v1::SearchRequest* request,
                      orqa::v1::SearchResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context, const orqa::v1::GetInfoRequest* request,
                       orqa::v1::RetrieverInfo* response) override;
  grpc::Status Reload(grpc::ServerContext* context, const orqa::v1::ReloadRequest* request,
                      orqa::v1::ReloadResponse* response) override;

  struct Query {
    std::string question;
    int k;
  };
  struct Hits {
    std::shared_ptr<const RetrieverState> state;
    std::vector<int64_t> ids;  // global
    std::vector<float> scores;
    std::vector<float> query_vector;
    double embed_ms = 0, search_ms = 0;
  };

 private:
  std::shared_ptr<const RetrieverState> Snapshot() const;
  grpc::Status RetrieveSparse(const RetrieverState& state, const orqa::v1::RetrieveRequest& request,
                              orqa::v1::RetrieveResponse* response);
  std::vector<absl::StatusOr<Hits>> RunBatch(const std::vector<const Query*>& batch);
  void FillBlock(const RetrieverState& s, int64_t global_id, float score, bool texts, bool vectors,
                 orqa::v1::Block* out) const;
  void FillInfo(const RetrieverState* s, orqa::v1::RetrieverInfo* info) const;
  void PublishStateMetrics(const RetrieverState& s);

  RetrieverOptions options_;
  CallerPolicy callers_{options_.server.tls};  // who may call which RPC (mutual TLS)
  mutable std::mutex mu_;  // guards state_
  std::shared_ptr<const RetrieverState> state_;
  std::mutex reload_mu_;   // one Reload at a time
  std::function<void(bool)> on_ready_;
  std::shared_ptr<const Bm25Index> bm25_;  // set before serving, never changed
  prometheus::Histogram* sparse_seconds_;

  prometheus::Histogram* embed_seconds_;
  prometheus::Histogram* search_seconds_;
  prometheus::Gauge* blocks_;
  prometheus::Gauge* index_bytes_;
  prometheus::Family<prometheus::Gauge>* model_info_;
  prometheus::Family<prometheus::Counter>* reloads_;
  prometheus::Gauge* current_model_info_ = nullptr;

  BatchingMetrics batching_;
  std::unique_ptr<Batcher<Query, Hits>> batcher_;
};

}  // namespace orqa
