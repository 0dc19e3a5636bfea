#include "common/train/checkpoint.h"

#include <torch/torch.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/io/safetensors.h"

namespace orqa {
namespace fs = std::filesystem;

StateDict NamedParameters(torch::nn::Module& module, const std::string& prefix) {
  StateDict out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out[prefix + item.key()] = item.value().detach().contiguous();
  }
  return out;
}

namespace {

absl::Status WriteState(const std::string& path, const StateDict& state,
                        const std::map<std::string, std::string>& metadata) {
  std::map<std::string, TensorView> views;
  for (const auto& [name, t] : state) {
    auto v = FromTorch(t);
    if (!v.ok()) return absl::Status(v.status().code(), absl::StrCat(path, ": ", name, ": ", v.status().message()));
    views[name] = *v;
  }
  return WriteSafetensors(path, views, metadata);
}

}  // namespace

absl::Status WriteModelDir(const std::string& dir, const std::string& source_dir, const StateDict& weights,
                           const std::map<std::string, std::string>& metadata, const StateDict* training_state) {
  const std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (!fs::create_directories(tmp, ec) || ec) {
    return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot create checkpoint directory: ", ec.message()));
  }
  for (const char* name : {"config.json", "vocab.txt"}) {
    fs::copy_file(source_dir + "/" + name, tmp + "/" + name, fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::DataLossError(absl::StrCat(tmp, "/", name, ": cannot copy from ", source_dir, ": ", ec.message()));
  }
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "pt";
  if (absl::Status st = WriteState(tmp + "/model.safetensors", weights, meta); !st.ok()) return st;
  if (training_state != nullptr) {
    if (absl::Status st = WriteState(tmp + "/" + kTrainingStateFile, *training_state, metadata); !st.ok()) return st;
  }
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) return absl::DataLossError(absl::StrCat(dir, ": cannot move checkpoint into place: ", ec.message()));
  return absl::OkStatus();
}

}  // namespace orqa
