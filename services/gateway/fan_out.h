#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace orqa {

/// Calls to several backends at once through gRPC's callback API: a request
/// fanned out to S shards costs no thread per shard; Wait() blocks only the
/// calling thread. Every call gets a client context made from the server
/// call's (deadline and cancellation reach every backend).
class FanOut {
 public:
  /// Starts one call on `ctx` and arranges for `done` to run when it ends
  /// (e.g. stub.async()->Search(ctx, &req, &resp, std::move(done))); it must
  /// clear the response first (a retry reuses it).
  using Start = std::function<void(grpc::ClientContext* ctx, std::function<void(grpc::Status)> done)>;

  explicit FanOut(grpc::ServerContext& server_ctx) : server_ctx_(server_ctx) {}
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;
  /// Never leaves a call running that writes into the caller's responses.
  ~FanOut();

  /// Starts a call to the backend behind `channel`; returns its index.
  size_t Add(grpc::Channel* channel, Start start);

  /// Waits until every call has ended. A call that failed UNAVAILABLE while
  /// its channel was still backing off from an earlier failure (a backend
  /// that just restarted) is tried once more as soon as the channel connects,
  /// within the deadline and at most a second later.
  void Wait();

  /// The status of call `i` (after Wait).
  const grpc::Status& status(size_t i) const { return calls_[i].status; }

 private:
  struct Call {
    grpc::Channel* channel;
    Start start;
    std::unique_ptr<grpc::ClientContext> ctx;
    grpc::Status status;
  };
  void Launch(Call& call);
  void WaitForPending();

  grpc::ServerContext& server_ctx_;
  std::deque<Call> calls_;  // stable addresses for the callbacks
  std::mutex mu_;
  std::condition_variable cv_;
  size_t pending_ = 0;
};

}  // namespace orqa
