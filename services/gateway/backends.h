#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "orqa/v1/reader.grpc.pb.h"
#include "orqa/v1/retriever.grpc.pb.h"
#include "orqa/v1/trainer.grpc.pb.h"
#include "services/gateway/gateway_options.h"

namespace orqa {

/// grpc.health.v1 status of the server behind `channel` ("SERVING",
/// "NOT_SERVING", ...), or "UNREACHABLE"; waits at most 500 ms.
std::string HealthOf(const std::shared_ptr<grpc::Channel>& channel);

/// A failed downstream call as the gateway reports it: the code kept (a
/// downstream CANCELLED — a backend dropping the call — becomes UNAVAILABLE),
/// the message naming the backend (`who` at `address`).
absl::Status DownstreamError(const grpc::Status& st, const std::string& who, const std::string& address);

/// What the gateway last saw of one backend.
struct BackendState {
  std::string health = "UNKNOWN";  // SERVING, NOT_SERVING, UNREACHABLE
  int64_t num_blocks = 0;           // retriever shards
  int64_t first_block_id = 0;
  std::string version;              // embedder or reader version
  std::string arithmetic;           // what its encoder runs at (GetInfo's arithmetic)
};

/// Channels and stubs to the retriever shards, the reader and the trainer,
/// plus a monitor thread that polls their health and info every second.
class Backends {
 public:
  explicit Backends(const GatewayOptions& options);
  ~Backends();

  size_t num_shards() const { return retrievers_.size(); }
  orqa::v1::Retriever::Stub& retriever(size_t i) { return *retrievers_[i]; }
  orqa::v1::Reader::Stub& reader() { return *reader_; }
  grpc::Channel& retriever_channel(size_t i) { return *retriever_channels_[i]; }
  grpc::Channel& reader_channel() { return *reader_channel_; }
  const std::string& retriever_address(size_t i) const { return options_.retriever_addresses[i]; }
  const std::string& reader_address() const { return options_.reader_address; }

  BackendState shard_state(size_t i) const;
  BackendState reader_state() const;
  /// True when every shard and the reader report SERVING.
  bool all_serving() const;
  /// Polls once now (also done every second by the monitor).
  void Refresh();
  /// Called with all_serving() after every poll.
  void OnChange(std::function<void(bool)> fn);

 private:
  void Monitor();

  GatewayOptions options_;
  std::vector<std::shared_ptr<grpc::Channel>> retriever_channels_;
  std::vector<std::unique_ptr<orqa::v1::Retriever::Stub>> retrievers_;
  std::shared_ptr<grpc::Channel> reader_channel_;
  std::unique_ptr<orqa::v1::Reader::Stub> reader_;
  mutable std::mutex mu_;  // guards the states and on_change_
  std::vector<BackendState> shard_states_;
  BackendState reader_state_;
  std::function<void(bool)> on_change_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread monitor_;
};

}  // namespace orqa
