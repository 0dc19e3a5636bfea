#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/state_dict.h"

namespace orqa {

/// The parameters of `module`, keyed `prefix + name` (detached, contiguous).
StateDict NamedParameters(torch::nn::Module& module, const std::string& prefix);

/// File in a checkpoint directory holding what a resumed job needs beyond the
/// weights (optimiser moments, step).
inline constexpr char kTrainingStateFile[] = "training_state.safetensors";

/// The text files of a model directory besides its weights (config.json,
/// vocab.txt), read once so later checkpoints do not depend on the source.
struct ModelDirFiles {
  std::map<std::string, std::string> files;  // name → contents
};
absl::StatusOr<ModelDirFiles> ReadModelDirFiles(const std::string& source_dir);

/// Writes a model directory the retriever, the reader and Admin.Deploy load
/// unchanged: `files` (config.json, vocab.txt), model.safetensors holding
/// `weights` (with `metadata`), and, when given, `training_state` as
/// training_state.safetensors. Written to `dir.tmp` and renamed, so `dir` is
/// either the old or the complete new checkpoint.
absl::Status WriteModelDir(const std::string& dir, const ModelDirFiles& files, const StateDict& weights,
                           const std::map<std::string, std::string>& metadata,
                           const StateDict* training_state = nullptr);

}  // namespace orqa
