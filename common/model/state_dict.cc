#include "common/model/state_dict.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/io/pytorch_zip.h"
#include "common/io/zip_reader.h"
#include "common/io/safetensors.h"

namespace orqa {
namespace {

torch::ScalarType ToScalarType(DType d) {
  switch (d) {
    case DType::kF64: return torch::kFloat64;
    case DType::kF32: return torch::kFloat32;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kI64: return torch::kInt64;
    case DType::kI32: return torch::kInt32;
    case DType::kI16: return torch::kInt16;
    case DType::kI8: return torch::kInt8;
    case DType::kU8: return torch::kUInt8;
    case DType::kBool: return torch::kBool;
  }
  return torch::kFloat32;
}

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

}  // namespace

torch::Tensor ToTorch(const TensorView& view) {
  auto options = torch::TensorOptions().dtype(ToScalarType(view.dtype));
  if (view.numel() == 0) return torch::empty(view.shape, options);
  void* data = const_cast<uint8_t*>(view.data);
  if (reinterpret_cast<uintptr_t>(data) % DTypeSize(view.dtype) != 0) {
    torch::Tensor t = torch::empty(view.shape, options);
    std::memcpy(t.data_ptr(), view.data, view.nbytes);
    return t;
  }
  std::shared_ptr<const void> owner = view.owner;
  return torch::from_blob(data, view.shape, [owner](void*) mutable { owner.reset(); }, options);
}

absl::StatusOr<TensorView> FromTorch(const torch::Tensor& t) {
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    return absl::InvalidArgumentError("tensor must be contiguous and on the CPU");
  }
  TensorView v;
  switch (t.scalar_type()) {
    case torch::kFloat64: v.dtype = DType::kF64; break;
    case torch::kFloat32: v.dtype = DType::kF32; break;
    case torch::kFloat16: v.dtype = DType::kF16; break;
    case torch::kBFloat16: v.dtype = DType::kBF16; break;
    case torch::kInt64: v.dtype = DType::kI64; break;
    case torch::kInt32: v.dtype = DType::kI32; break;
    case torch::kInt16: v.dtype = DType::kI16; break;
    case torch::kInt8: v.dtype = DType::kI8; break;
    case torch::kUInt8: v.dtype = DType::kU8; break;
    case torch::kBool: v.dtype = DType::kBool; break;
    default: return absl::InvalidArgumentError("unsupported tensor dtype");
  }
  v.shape.assign(t.sizes().begin(), t.sizes().end());
  v.data = static_cast<const uint8_t*>(t.data_ptr());
  v.nbytes = t.numel() * t.element_size();
  return v;
}

absl::StatusOr<StateDict> LoadStateDict(const std::string& path) {
  StateDict out;
  if (IsZipFile(path)) {
    auto tensors = ReadPyTorchZip(path);
    if (!tensors.ok()) return tensors.status();
    for (auto& [name, view] : *tensors) out[name] = ToTorch(view);
    return out;
  }
  auto contents = ReadSafetensors(path);
  if (!contents.ok()) return contents.status();
  for (auto& [name, view] : contents->tensors) out[name] = ToTorch(view);
  // Keys left out of the file because they share storage with another key.
  if (auto it = contents->metadata.find("aliases"); it != contents->metadata.end()) {
    nlohmann::json aliases = nlohmann::json::parse(it->second, nullptr, false);
    if (aliases.is_discarded() || !aliases.is_object()) {
      return absl::DataLossError(absl::StrCat(path, ": __metadata__.aliases is not a JSON object"));
    }
    for (auto a = aliases.begin(); a != aliases.end(); ++a) {
      if (!a.value().is_string()) continue;
      auto target = out.find(a.value().get<std::string>());
      if (target == out.end()) {
        return absl::DataLossError(absl::StrCat(path, ": alias '", a.key(), "' points to missing key '",
                                                a.value().get<std::string>(), "'"));
      }
      out[a.key()] = target->second;
    }
  }
  return out;
}

absl::Status LoadModule(torch::nn::Module& module, const StateDict& state, const std::string& prefix,
                        const std::vector<std::string>& ignored, const std::string& source) {
  std::vector<std::string> missing, mis_shaped, unexpected;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string key = prefix + item.key();
    auto it = state.find(key);
    if (it == state.end()) {
      missing.push_back(key);
      continue;
    }
    used.insert(key);
    if (it->second.sizes() != item.value().sizes()) {
      mis_shaped.push_back(absl::StrCat(key, " (checkpoint ", c10::str(it->second.sizes()), ", model ",
                                        c10::str(item.value().sizes()), ")"));
      continue;
    }
    item.value().copy_(it->second.to(item.value().scalar_type()));
  }
  for (const auto& [key, value] : state) {
    if (!StartsWith(key, prefix) || used.count(key) || EndsWith(key, "position_ids")) continue;
    bool skip = false;
    for (const auto& ig : ignored) skip = skip || StartsWith(key, prefix + ig);
    if (!skip) unexpected.push_back(key);
  }
  if (missing.empty() && mis_shaped.empty() && unexpected.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back("missing keys: " + absl::StrJoin(missing, ", "));
  if (!mis_shaped.empty()) parts.push_back("mis-shaped keys: " + absl::StrJoin(mis_shaped, ", "));
  if (!unexpected.empty()) parts.push_back("unexpected keys: " + absl::StrJoin(unexpected, ", "));
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", absl::StrJoin(parts, "; ")));
}

}  // namespace orqa
