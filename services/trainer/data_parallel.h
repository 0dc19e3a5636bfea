#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "orqa/v1/trainer.pb.h"

namespace at {
class Tensor;
}

namespace orqa {

/// Where this trainer sits in a data-parallel group, set the way torchrun
/// sets it (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
struct DataParallelOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// How long a collective or the rendezvous may wait for the other ranks
  /// (rank 0 evaluating while the others wait counts too).
  std::chrono::seconds timeout{1800};
};

/// Whether this build can train data-parallel (LibTorch's c10d with Gloo).
bool DataParallelAvailable();

/// One job's process group (LibTorch c10d, ProcessGroupGloo over TCP).
class DataParallel {
 public:
  virtual ~DataParallel() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Sums the gradients of `params` over the ranks in place (one flattened
  /// buffer) and returns the sum of the ranks' `loss`. Each rank's gradients
  /// are its share of the global batch's mean loss, so the sum is that mean's.
  virtual absl::StatusOr<double> AllReduceGradients(const std::vector<at::Tensor>& params, double loss) = 0;
  /// The largest `signal` of all ranks (0 go on, 1 cancelled, 2 stopping):
  /// every rank leaves the step loop at the same step.
  virtual absl::StatusOr<int> AgreeOnStop(int signal) = 0;
  /// Sums `t` (float32, contiguous) over the ranks in place.
  virtual absl::Status AllReduceSum(at::Tensor& t) = 0;
  /// Time the last AllReduceGradients spent in the collective, in ms.
  virtual double last_allreduce_ms() const = 0;
};

/// A job as rank 0 hands it to the other ranks.
struct AnnouncedJob {
  orqa::v1::Job job;
  std::unique_ptr<DataParallel> group;
};

/// The trainers' rendezvous: a c10d TCPStore hosted by rank 0 at
/// master_addr:master_port. Rank 0 announces each data-parallel job; the
/// other ranks wait for announcements, run the job's steps with rank 0, and
/// send heartbeats so that rank 0 can name a rank that died.
class Rendezvous {
 public:
  static absl::StatusOr<std::unique_ptr<Rendezvous>> Connect(const DataParallelOptions& options);
  virtual ~Rendezvous() = default;
  /// Rank 0: publishes `job` and forms its process group with every rank.
  virtual absl::StatusOr<std::unique_ptr<DataParallel>> Announce(const orqa::v1::Job& job) = 0;
  /// Other ranks: waits for the next announced job (polling `stop` every
  /// 200 ms; CANCELLED when it says stop) and joins its process group.
  virtual absl::StatusOr<AnnouncedJob> NextJob(const std::function<bool()>& stop) = 0;
  /// Rank 0: the ranks whose heartbeats stopped in the last ~3 s.
  virtual std::vector<int> SilentRanks() = 0;
};

}  // namespace orqa
