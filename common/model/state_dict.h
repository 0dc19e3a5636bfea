#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace orqa {

/// Parameter name → tensor, as in a PyTorch state_dict.
using StateDict = std::map<std::string, torch::Tensor>;

/// A tensor over a view's bytes; zero-copy when the data is aligned for its
/// dtype (the view's owner is kept alive), otherwise copied.
torch::Tensor ToTorch(const TensorView& view);

/// A view of a contiguous CPU tensor (valid while `tensor` lives).
absl::StatusOr<TensorView> FromTorch(const torch::Tensor& tensor);

/// Loads a state dict from `model.safetensors` (aliases in the metadata
/// resolved) or a PyTorch zip checkpoint (`pytorch_model.bin`), by content.
absl::StatusOr<StateDict> LoadStateDict(const std::string& path);

/// Copies `state[prefix + name]` into every parameter of `module`. Strict:
/// missing, unexpected (under `prefix`) and mis-shaped keys are all reported
/// by name in one error. Keys under `prefix + p` for p in `ignored` (weights
/// the reference never uses in forward) and `*.position_ids` buffers are skipped.
absl::Status LoadModule(torch::nn::Module& module, const StateDict& state,
                        const std::string& prefix, const std::vector<std::string>& ignored,
                        const std::string& source);

}  // namespace orqa
