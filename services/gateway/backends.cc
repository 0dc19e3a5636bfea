#include "services/gateway/backends.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/infra/status_util.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace orqa {
namespace {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsCalling& tls) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a backend restarts (gRPC's default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 << 20);
  // A name with several addresses (a Kubernetes headless Service, e.g.
  // dns:///orqa-reader:50053) spreads calls over all of them.
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(address, MakeChannelCredentials(tls), args);
}

}  // namespace

std::string HealthOf(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, {}, &resp).ok()) return "UNREACHABLE";
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
}

absl::Status DownstreamError(const grpc::Status& st, const std::string& who, const std::string& address) {
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(absl::StrCat(who, " at ", address, " is unavailable: ", st.error_message()));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(absl::StrCat("deadline exceeded waiting for ", who, " at ", address));
    case grpc::StatusCode::CANCELLED:
      // The client's own cancellation never reaches it as a status, so a
      // downstream CANCELLED is the backend dropping the call (shutting down).
      return absl::UnavailableError(
          absl::StrCat(who, " at ", address, " is unavailable: it cancelled the call (shutting down?)"));
    default: {
      absl::Status s = FromGrpcStatus(st);
      return absl::Status(s.code(), absl::StrCat(who, " at ", address, ": ", s.message()));
    }
  }
}

Backends::Backends(const GatewayOptions& options) : options_(options) {
  for (const auto& a : options_.retriever_addresses) {
    retriever_channels_.push_back(MakeChannel(a, options_.backend_tls));
    retrievers_.push_back(orqa::v1::Retriever::NewStub(retriever_channels_.back()));
  }
  shard_states_.resize(retrievers_.size());
  reader_channel_ = MakeChannel(options_.reader_address, options_.backend_tls);
  reader_ = orqa::v1::Reader::NewStub(reader_channel_);
  monitor_ = std::thread([this] { Monitor(); });
}

Backends::~Backends() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  monitor_.join();
}

void Backends::Refresh() {
  std::vector<BackendState> shards(retrievers_.size());
  for (size_t i = 0; i < retrievers_.size(); ++i) {
    shards[i].health = HealthOf(retriever_channels_[i]);
    if (shards[i].health != "SERVING") continue;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    orqa::v1::RetrieverInfo info;
    if (retrievers_[i]->GetInfo(&ctx, {}, &info).ok()) {
      shards[i].num_blocks = info.num_blocks();
      shards[i].first_block_id = info.first_block_id();
      shards[i].version = info.embedder().version();
      // "" until the shard has loaded a model.
      if (!info.arithmetic().empty()) {
        shards[i].arithmetic = absl::StrCat(info.arithmetic(), "; ", info.scan_kernel(), " scan");
      }
    }
  }
  BackendState reader;
  reader.health = HealthOf(reader_channel_);
  if (reader.health == "SERVING") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    orqa::v1::ReaderInfo info;
    if (reader_->GetInfo(&ctx, {}, &info).ok()) {
      reader.version = info.model().version();
      reader.arithmetic = info.arithmetic();
    }
  }
  std::function<void(bool)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shard_states_ = shards;
    reader_state_ = reader;
    cb = on_change_;
  }
  if (cb) cb(all_serving());
}

void Backends::Monitor() {
  while (true) {
    Refresh();
    std::unique_lock<std::mutex> lock(stop_mu_);
    if (stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) return;
  }
}

BackendState Backends::shard_state(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return shard_states_[i];
}

BackendState Backends::reader_state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reader_state_;
}

bool Backends::all_serving() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (reader_state_.health != "SERVING") return false;
  for (const auto& s : shard_states_) {
    if (s.health != "SERVING") return false;
  }
  return true;
}

void Backends::OnChange(std::function<void(bool)> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = std::move(fn);
}

}  // namespace orqa
