#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/state_dict.h"
#include "common/train/checkpoint.h"

namespace orqa {

class JobContext;
class TrainerMetrics;
class DataParallel;

/// One kind of training job, as the shared loop drives it.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  /// The parameters that train, named as in the checkpoint.
  virtual std::vector<std::pair<std::string, torch::Tensor>> Parameters() = 0;
  /// Dropout on (training) or off.
  virtual void SetTraining(bool on) = 0;
  /// Computes optimiser step `step`'s batch (0-based) and backpropagates the
  /// mean loss; returns that loss. Everything random in it must depend only
  /// on (seed, step) so a resumed job repeats it exactly.
  virtual absl::StatusOr<double> Step(int64_t step) = 0;
  /// Examples (questions, blocks) one step processes, for the rate.
  virtual int64_t examples_per_step() const = 0;
  /// Everything the checkpoint holds: the starting weights with the trained ones over them.
  virtual StateDict Weights() = 0;
  /// config.json and vocab.txt of the model.
  virtual const ModelDirFiles& Files() const = 0;
  /// Evaluation metrics ("" metric name = no evaluation); `stop` ends it early (ABORTED).
  virtual absl::StatusOr<std::map<std::string, double>> Evaluate(const std::function<bool()>& stop) {
    return std::map<std::string, double>();
  }
  /// The metric a best checkpoint is chosen by; "" when the task does not evaluate.
  virtual std::string best_metric() const { return ""; }
  /// Extra per-step values reported with the loss (e.g. in-batch accuracy).
  virtual std::map<std::string, double> StepMetrics() { return {}; }
  /// Data parallelism: from now on Step computes only this rank's share of
  /// every global batch (world_size equal shares), its gradients and loss
  /// being that share of the global batch's mean (they sum over the ranks to
  /// the one-process values); `group` may be used for collectives inside a
  /// step. False when the kind cannot split its batches.
  virtual bool SetDataShard(DataParallel* group) { return false; }
};

/// The directory a job resumes from: its last checkpoint, if that holds a
/// training state; else "".
std::string ResumeDir(JobContext& ctx);

/// Held by whatever draws from LibTorch's process-wide generator in the
/// trainer while a job may run: the training loop from seeding a step to the
/// end of its forward and backward pass (its dropout noise is a function of
/// (seed, step) only if nothing else draws in between), and a StartJob's
/// checks, which build the job's model and so draw its initial weights.
std::unique_lock<std::mutex> LockTorchGenerator();

/// Runs a task to the job's num_steps with AdamW (warm-up, linear decay,
/// clipping, weight decay from the spec): progress and history after every
/// step, checkpoints (weights + optimiser state) every checkpoint_every_steps
/// and at the end, keeping the newest keep_checkpoints plus the best by
/// best_metric(), evaluation every eval_every_steps and at the end. Returns
/// CANCELLED on CancelJob and ABORTED (after a checkpoint) when the trainer
/// stops; `resume_dir` (from ResumeDir) restores the optimiser. With
/// ctx.data_parallel(), every rank runs this loop on its share of each batch:
/// the ranks agree on stopping before each step, sum their gradients after
/// it, and only rank 0 evaluates and writes checkpoints.
absl::Status RunTrainingLoop(JobContext& ctx, TrainingTask& task, const std::string& resume_dir,
                             TrainerMetrics* metrics);

}  // namespace orqa
