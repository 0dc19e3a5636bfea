#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/model/state_dict.h"

namespace orqa {

/// Hyper-parameters of AdamW (Loshchilov & Hutter: decoupled weight decay).
struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-6;
  /// Applied to every parameter except biases and LayerNorm weights (BERT's rule).
  double weight_decay = 0.0;
};

/// AdamW with bias correction over named parameters. Its state (first and
/// second moments, step count) is a plain StateDict so a checkpoint stores it
/// as safetensors and a resumed run continues bit for bit.
class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options);

  /// One update with learning rate `lr` from the parameters' .grad().
  void Step(double lr);
  /// Drops every gradient.
  void ZeroGrad();

  int64_t steps() const { return steps_; }
  /// "exp_avg.<name>", "exp_avg_sq.<name>" and "step" (int64 scalar).
  StateDict State() const;
  /// The inverse of State(); every parameter's moments must be present with its shape.
  absl::Status LoadState(const StateDict& state, const std::string& source);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    bool decay = true;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

/// Scales all gradients so their global L2 norm is at most `max_norm`
/// (no-op for max_norm <= 0); returns the norm before clipping.
double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm);

/// Learning rate at 0-based `step`: linear warm-up from 0 over `warmup`
/// steps, then linear decay to 0 at `total` (BERT's schedule).
double WarmupLinearDecay(double base_lr, int64_t step, int64_t warmup, int64_t total);

}  // namespace orqa
