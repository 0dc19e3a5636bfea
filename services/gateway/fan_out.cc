#include "services/gateway/fan_out.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/infra/request_id.h"

namespace orqa {

FanOut::~FanOut() { WaitForPending(); }

size_t FanOut::Add(grpc::Channel* channel, Start start) {
  calls_.push_back(Call{channel, std::move(start), nullptr, grpc::Status::OK});
  Launch(calls_.back());
  return calls_.size() - 1;
}

void FanOut::Launch(Call& call) {
  call.ctx = BackendContext(server_ctx_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++pending_;
  }
  call.start(call.ctx.get(), [this, &call](grpc::Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    call.status = std::move(st);
    if (--pending_ == 0) cv_.notify_all();
  });
}

void FanOut::WaitForPending() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return pending_ == 0; });
}

void FanOut::Wait() {
  WaitForPending();
  std::vector<Call*> retry;
  for (Call& c : calls_) {
    if (c.status.error_code() == grpc::StatusCode::UNAVAILABLE) retry.push_back(&c);
  }
  if (retry.empty()) return;
  const auto limit = std::min(server_ctx_.deadline(), std::chrono::system_clock::now() + std::chrono::seconds(1));
  for (Call* c : retry) {
    if (c->channel->WaitForConnected(limit)) Launch(*c);
  }
  WaitForPending();
}

}  // namespace orqa
