#include "common/train/checkpoint.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/io/safetensors.h"
#include "common/io/tensor_view.h"

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

absl::StatusOr<ModelDirFiles> ReadModelDirFiles(const std::string& source_dir) {
  ModelDirFiles out;
  for (const char* name : {"config.json", "vocab.txt"}) {
    const std::string path = source_dir + "/" + name;
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
    std::stringstream ss;
    ss << in.rdbuf();
    out.files[name] = ss.str();
  }
  return out;
}

absl::Status WriteModelDir(const std::string& dir, const ModelDirFiles& files, const StateDict& weights,
                           const std::map<std::string, std::string>& metadata, const StateDict* training_state) {
  const std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (!fs::create_directories(tmp, ec) || ec) {
    return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot create checkpoint directory: ", ec.message()));
  }
  for (const auto& [name, contents] : files.files) {
    const std::string path = tmp + "/" + name;
    std::FILE* f = std::fopen((path + ".part").c_str(), "wb");
    if (!f) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write"));
    const bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
    if (absl::Status st = CommitFile(f, path + ".part", path, ok); !st.ok()) return st;
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
