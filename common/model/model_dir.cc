#include "common/model/model_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/io/crc32c.h"
#include "common/io/tf_bundle.h"
#include "common/model/tf_checkpoint.h"

namespace orqa {

absl::StatusOr<std::string> FindWeights(const std::string& model_dir, const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    auto prefix = ResolveTFCheckpoint(explicit_path);
    if (!prefix.ok()) return prefix.status();
    if (!prefix->empty()) return *prefix;
    if (access(explicit_path.c_str(), R_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(explicit_path, ": cannot read weights file"));
    }
    return explicit_path;
  }
  for (const char* name : {"model.safetensors", "pytorch_model.bin"}) {
    std::string p = model_dir + "/" + name;
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  // A TensorFlow checkpoint directory: its `checkpoint` file names the latest prefix.
  if (access((model_dir + "/checkpoint").c_str(), F_OK) == 0) {
    auto prefix = ResolveTFCheckpoint(model_dir);
    if (!prefix.ok()) return prefix.status();
    if (!prefix->empty()) return *prefix;
  }
  return absl::NotFoundError(absl::StrCat(
      model_dir, ": no model.safetensors, pytorch_model.bin or TF checkpoint (or pass the weights file)"));
}

std::string WeightsVersion(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return path;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  uint32_t crc = 0;
  if (f) {
    std::vector<char> buf(1 << 20);
    size_t n = std::fread(buf.data(), 1, buf.size(), f);
    crc = Crc32c(buf.data(), n);
    std::fclose(f);
  }
  std::string base = path.substr(path.find_last_of('/') + 1);
  return absl::StrFormat("%s:%d:%08x", base, static_cast<int64_t>(st.st_size), crc);
}

absl::StatusOr<ModelFiles> LoadModelFiles(const std::string& model_dir, const std::string& weights_path) {
  ModelFiles m;
  auto config = ReadRealmConfig(model_dir + "/config.json");
  if (!config.ok()) return config.status();
  m.config = *config;
  auto tok = WordPieceTokenizer::FromVocabFile(model_dir + "/vocab.txt");
  if (!tok.ok()) return tok.status();
  m.tokenizer = std::make_unique<WordPieceTokenizer>(std::move(*tok));
  auto weights = FindWeights(model_dir, weights_path);
  if (!weights.ok()) return weights.status();
  if (const std::string prefix = TFCheckpointPrefix(*weights); !prefix.empty()) {
    // A TensorFlow REALM/ORQA checkpoint, converted in memory with `orqa
    // convert`'s mapping; each service's loader then checks the keys it needs.
    TFConversionOptions options;
    options.require_complete = false;
    auto converted = ConvertTFCheckpoints({prefix}, RealmKind::kOpenQA, m.config, options);
    if (!converted.ok()) return converted.status();
    for (const auto& [key, view] : converted->tensors) m.state[key] = ToTorch(view);
    for (const auto& [alias, key] : converted->aliases) m.state[alias] = m.state.at(key);
    m.weights_path = prefix;
    m.version = WeightsVersion(prefix + ".index");
    return m;
  }
  auto state = LoadStateDict(*weights);
  if (!state.ok()) return state.status();
  m.state = std::move(*state);
  m.weights_path = *weights;
  m.version = WeightsVersion(*weights);
  return m;
}

StateDict SelectSubmodule(const StateDict& state, const std::string& prefix, const std::vector<std::string>& heads) {
  StateDict out;
  for (const auto& [k, v] : state) {
    if (k.compare(0, prefix.size(), prefix) != 0) continue;
    for (const auto& h : heads) {
      if (k.compare(prefix.size(), h.size(), h) == 0) {
        out[k] = v;
        break;
      }
    }
  }
  return out;
}

}  // namespace orqa
