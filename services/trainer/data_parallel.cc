#include "services/trainer/data_parallel.h"

#include <torch/torch.h>

#ifdef ORQA_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace orqa {

#ifndef ORQA_WITH_GLOO

bool DataParallelAvailable() { return false; }

absl::StatusOr<std::unique_ptr<Rendezvous>> Rendezvous::Connect(const DataParallelOptions&) {
  return absl::UnimplementedError(
      "data-parallel training needs LibTorch's c10d with Gloo; this build has no Gloo headers (libgloo-dev)");
}

#else

namespace {

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

c10::intrusive_ptr<c10d::TCPStore> MakeStore(const DataParallelOptions& o, bool server) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(o.master_port);
  so.isServer = server;
  so.numWorkers = o.world_size;
  so.waitWorkers = false;
  so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.timeout);
  return c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
}

class GlooGroup : public DataParallel {
 public:
  GlooGroup(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg, int rank, int world,
            std::function<std::vector<int>()> silent_ranks)
      : pg_(std::move(pg)), rank_(rank), world_(world), silent_ranks_(std::move(silent_ranks)) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  double last_allreduce_ms() const override { return last_ms_; }

  absl::StatusOr<double> AllReduceGradients(const std::vector<at::Tensor>& params, double loss) override {
    // [every gradient (zeros where a rank has none), one "has a gradient" flag per parameter, the loss]
    std::vector<at::Tensor> parts;
    std::vector<float> flags(params.size() + 1, 0.0f);
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& g = params[i].grad();
      flags[i] = g.defined() ? 1.0f : 0.0f;
      parts.push_back(g.defined() ? g.reshape({-1}).to(torch::kFloat32)
                                  : torch::zeros({params[i].numel()}, torch::kFloat32));
    }
    flags.back() = static_cast<float>(loss);
    parts.push_back(torch::from_blob(flags.data(), {static_cast<int64_t>(flags.size())}, torch::kFloat32));
    std::vector<at::Tensor> buffer = {torch::cat(parts)};
    auto t0 = std::chrono::steady_clock::now();
    if (absl::Status st = Run([&] { pg_->allreduce(buffer)->wait(); }, "all-reduce of the gradients"); !st.ok()) {
      return st;
    }
    last_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const at::Tensor& out = buffer[0];
    const float* summed_flags = out.data_ptr<float>() + (out.numel() - static_cast<int64_t>(flags.size()));
    int64_t offset = 0;
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t n = params[i].numel();
      if (summed_flags[i] > 0) {  // some rank has a gradient for it
        at::Tensor g = out.narrow(0, offset, n).view(params[i].sizes()).to(params[i].dtype());
        if (params[i].grad().defined()) {
          params[i].mutable_grad().copy_(g);
        } else {
          params[i].mutable_grad() = g.clone();
        }
      }
      offset += n;
    }
    return static_cast<double>(summed_flags[params.size()]);
  }

  absl::Status AllReduceSum(at::Tensor& t) override {
    std::vector<at::Tensor> v = {t};
    return Run([&] { pg_->allreduce(v)->wait(); }, "all-reduce inside a step");
  }

  absl::StatusOr<int> AgreeOnStop(int signal) override {
    std::vector<at::Tensor> t = {torch::full({1}, signal, torch::kInt32)};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    if (absl::Status st = Run([&] { pg_->allreduce(t, o)->wait(); }, "step agreement"); !st.ok()) return st;
    return t[0].item<int>();
  }

 private:
  absl::Status Run(const std::function<void()>& fn, const char* what) {
    try {
      fn();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      std::string who;
      if (silent_ranks_) {
        std::vector<int> silent = silent_ranks_();
        if (!silent.empty()) {
          who = absl::StrCat(silent.size() == 1 ? "rank " : "ranks ", absl::StrJoin(silent, ", "),
                             " stopped answering (no heartbeat for 3 s); ");
        }
      }
      return absl::UnavailableError(absl::StrCat("data-parallel ", what, " failed on rank ", rank_, ": ", who,
                                                 FirstLine(e.what())));
    }
  }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  int rank_, world_;
  std::function<std::vector<int>()> silent_ranks_;
  double last_ms_ = 0;
};

class TcpRendezvous : public Rendezvous {
 public:
  TcpRendezvous(const DataParallelOptions& o, c10::intrusive_ptr<c10d::TCPStore> store,
                c10::intrusive_ptr<c10d::TCPStore> heartbeat_store)
      : o_(o), store_(std::move(store)), heartbeat_store_(std::move(heartbeat_store)) {
    seen_ = store_->add("jobs", 0);
    if (o_.rank != 0) {
      heartbeat_ = std::thread([this] {
        for (int64_t beat = 0; !stop_; ++beat) {
          try {
            heartbeat_store_->set(absl::StrCat("heartbeat/", o_.rank), std::vector<uint8_t>{
                                                                           static_cast<uint8_t>(beat & 0xff),
                                                                           static_cast<uint8_t>((beat >> 8) & 0xff)});
          } catch (const std::exception& e) {
            spdlog::warn("data-parallel heartbeat of rank {}: {}", o_.rank, FirstLine(e.what()));
          }
          for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
    }
  }
  ~TcpRendezvous() override {
    stop_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  absl::StatusOr<std::unique_ptr<DataParallel>> Announce(const orqa::v1::Job& job) override {
    try {
      std::vector<int> silent = SilentRanks();
      if (!silent.empty()) {
        return absl::UnavailableError(absl::StrCat("data-parallel group of ", o_.world_size, ": ",
                                                   silent.size() == 1 ? "rank " : "ranks ", absl::StrJoin(silent, ", "),
                                                   " not connected (no heartbeat at ", o_.master_addr, ":",
                                                   o_.master_port, ")"));
      }
      const int64_t seq = store_->add("jobs", 1);
      std::string bytes = job.SerializeAsString();
      store_->set(absl::StrCat("job/", seq), std::vector<uint8_t>(bytes.begin(), bytes.end()));
      spdlog::info("data-parallel job {} announced to {} ranks (group {})", job.job_id(), o_.world_size, seq);
      return Join(seq);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("data-parallel rendezvous: ", FirstLine(e.what())));
    }
  }

  absl::StatusOr<AnnouncedJob> NextJob(const std::function<bool()>& stop) override {
    try {
      while (!store_->check({absl::StrCat("job/", seen_ + 1)})) {
        if (stop()) return absl::CancelledError("stopping");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      const int64_t seq = ++seen_;
      std::vector<uint8_t> bytes = store_->get(absl::StrCat("job/", seq));
      AnnouncedJob a;
      if (!a.job.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError(absl::StrCat("data-parallel job ", seq, ": cannot parse the announcement"));
      }
      auto group = Join(seq);
      if (!group.ok()) return group.status();
      a.group = std::move(*group);
      return a;
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("data-parallel rendezvous at ", o_.master_addr, ":", o_.master_port,
                                                 ": ", FirstLine(e.what())));
    }
  }

  std::vector<int> SilentRanks() override {
    auto read = [&] {
      std::vector<std::vector<uint8_t>> beats(o_.world_size);
      for (int r = 1; r < o_.world_size; ++r) {
        const std::string key = absl::StrCat("heartbeat/", r);
        if (store_->check({key})) beats[r] = store_->get(key);
      }
      return beats;
    };
    auto first = read();
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    auto second = read();
    std::vector<int> silent;
    for (int r = 1; r < o_.world_size; ++r) {
      if (second[r].empty() || second[r] == first[r]) silent.push_back(r);
    }
    return silent;
  }

 private:
  absl::StatusOr<std::unique_ptr<DataParallel>> Join(int64_t seq) {
    auto options = c10d::ProcessGroupGloo::Options::create();
    // The address the other ranks reach this one at: loopback when the
    // group is on one host, else this host's name (its pod IP on Kubernetes).
    const bool loopback = o_.master_addr == "127.0.0.1" || o_.master_addr == "localhost";
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(loopback ? "127.0.0.1" : LocalHost()));
    options->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o_.timeout);
    try {
      auto prefix = c10::make_intrusive<c10d::PrefixStore>(absl::StrCat("job/", seq, "/pg"), store_);
      auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefix, o_.rank, o_.world_size, options);
      std::function<std::vector<int>()> silent;
      if (o_.rank == 0) silent = [this] { return SilentRanks(); };
      return std::unique_ptr<DataParallel>(new GlooGroup(std::move(pg), o_.rank, o_.world_size, std::move(silent)));
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("data-parallel group ", seq, " (rank ", o_.rank, " of ",
                                                 o_.world_size, "): ", FirstLine(e.what())));
    }
  }

  static std::string LocalHost() {
    char name[256] = {0};
    if (gethostname(name, sizeof(name) - 1) != 0) return "127.0.0.1";
    return name;
  }

  DataParallelOptions o_;
  c10::intrusive_ptr<c10d::TCPStore> store_, heartbeat_store_;
  int64_t seen_ = 0;
  std::atomic<bool> stop_{false};
  std::thread heartbeat_;
};

}  // namespace

bool DataParallelAvailable() { return true; }

absl::StatusOr<std::unique_ptr<Rendezvous>> Rendezvous::Connect(const DataParallelOptions& options) {
  if (options.world_size < 2 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("data parallel: rank ", options.rank, " of world size ", options.world_size));
  }
  try {
    auto store = MakeStore(options, options.rank == 0);
    c10::intrusive_ptr<c10d::TCPStore> heartbeat;
    if (options.rank != 0) heartbeat = MakeStore(options, false);
    return std::unique_ptr<Rendezvous>(new TcpRendezvous(options, std::move(store), std::move(heartbeat)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("data-parallel rendezvous at ", options.master_addr, ":",
                                               options.master_port, " (rank ", options.rank, "): ",
                                               FirstLine(e.what())));
  }
}

#endif

}  // namespace orqa
