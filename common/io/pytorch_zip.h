#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// Reads a PyTorch zip checkpoint (`torch.save`, e.g. Hugging Face's
/// `pytorch_model.bin`) holding a dict or OrderedDict (a module's
/// state_dict()) of tensors, without Python: the pickle runs in a restricted
/// machine that only rebuilds tensors from the archive's storages. Tensors
/// sharing a storage share bytes. Errors name the file and what was wrong.
absl::StatusOr<std::map<std::string, TensorView>> ReadPyTorchZip(const std::string& path);

/// The same over an archive already in memory (for fuzzing).
absl::StatusOr<std::map<std::string, TensorView>> ParsePyTorchZip(
    std::shared_ptr<const void> owner, const uint8_t* data, size_t size, const std::string& name);

}  // namespace orqa
