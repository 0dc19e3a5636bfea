#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/realm_config.h"
#include "common/model/state_dict.h"
#include "common/text/wordpiece_tokenizer.h"

namespace orqa {

/// What a model directory holds: config.json, vocab.txt and one weights file.
struct ModelFiles {
  RealmConfig config;
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  StateDict state;
  std::string weights_path;
  std::string version;  // WeightsVersion(weights_path)
};

/// Reads config.json and vocab.txt from `model_dir` and the weights from
/// `weights_path`, or model.safetensors / pytorch_model.bin in the directory.
/// `weights_path` may also be a TensorFlow REALM/ORQA checkpoint prefix,
/// converted in memory into the RealmForOpenQA layout (tf_checkpoint.h).
absl::StatusOr<ModelFiles> LoadModelFiles(const std::string& model_dir, const std::string& weights_path);

/// The weights file of a model directory: `explicit_path` if set, else
/// model.safetensors, else pytorch_model.bin.
absl::StatusOr<std::string> FindWeights(const std::string& model_dir, const std::string& explicit_path);

/// "<file>:<size>:<crc32c of the first MiB>" — changes when the weights do.
std::string WeightsVersion(const std::string& path);

/// The keys of one sub-model: those under `prefix` whose next component is in
/// `heads` (e.g. {"realm.", "cls."}), so a RealmForOpenQA file loads strictly
/// into just its embedder or just its reader.
StateDict SelectSubmodule(const StateDict& state, const std::string& prefix, const std::vector<std::string>& heads);

}  // namespace orqa
