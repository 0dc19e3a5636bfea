#include "common/train/adamw.h"

#include <torch/torch.h>

#include <cmath>

#include "absl/strings/str_cat.h"

namespace orqa {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options)
    : options_(options) {
  for (auto& [name, p] : params) {
    Slot s;
    s.name = name;
    s.param = p;
    s.exp_avg = torch::zeros_like(p);
    s.exp_avg_sq = torch::zeros_like(p);
    // No decay on biases and LayerNorm parameters, as BERT and ORQA do.
    s.decay = name.find("bias") == std::string::npos && name.find("LayerNorm") == std::string::npos &&
              name.find("layer_norm") == std::string::npos;
    slots_.push_back(std::move(s));
  }
}

void AdamW::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double c1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double c2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (Slot& s : slots_) {
    const torch::Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    s.exp_avg.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    if (s.decay && options_.weight_decay > 0) s.param.mul_(1.0 - lr * options_.weight_decay);
    auto denom = (s.exp_avg_sq / c2).sqrt_().add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / c1);
  }
}

void AdamW::ZeroGrad() {
  for (Slot& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad() = torch::Tensor();
  }
}

StateDict AdamW::State() const {
  StateDict out;
  for (const Slot& s : slots_) {
    out["exp_avg." + s.name] = s.exp_avg;
    out["exp_avg_sq." + s.name] = s.exp_avg_sq;
  }
  out["step"] = torch::tensor({steps_}, torch::kLong);
  return out;
}

absl::Status AdamW::LoadState(const StateDict& state, const std::string& source) {
  auto step = state.find("step");
  if (step == state.end() || step->second.numel() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": optimiser state has no 'step'"));
  }
  for (Slot& s : slots_) {
    for (auto [key, target] : {std::pair<std::string, torch::Tensor*>{"exp_avg." + s.name, &s.exp_avg},
                               {"exp_avg_sq." + s.name, &s.exp_avg_sq}}) {
      auto it = state.find(key);
      if (it == state.end()) return absl::InvalidArgumentError(absl::StrCat(source, ": missing optimiser key ", key));
      if (!it->second.sizes().equals(s.param.sizes())) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": optimiser key ", key, " has shape ",
                                                       c10::str(it->second.sizes()), ", expected ",
                                                       c10::str(s.param.sizes())));
      }
      *target = it->second.to(torch::kFloat32).clone();
    }
  }
  steps_ = step->second.to(torch::kLong).item<int64_t>();
  return absl::OkStatus();
}

double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return norm;
}

double WarmupLinearDecay(double base_lr, int64_t step, int64_t warmup, int64_t total) {
  if (warmup > 0 && step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (total <= warmup) return base_lr;
  const double left = static_cast<double>(total - step) / static_cast<double>(total - warmup);
  return base_lr * std::max(0.0, left);
}

}  // namespace orqa
