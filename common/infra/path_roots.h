#pragma once

#include <string>

#include "absl/status/status.h"
#include "common/infra/flags.h"

namespace orqa {

/// The folders that paths arriving in requests (Deploy, Reload, StartJob)
/// must lie in. Each path is resolved — symlinks followed, `..` applied, a
/// path that does not exist yet by its nearest existing folder — before
/// anything is opened or created, and one outside its root is
/// PERMISSION_DENIED naming the request field. An empty root admits any path
/// (the default: today's behaviour for a service on loopback).
struct PathRoots {
  std::string model;   // model directories and weights (--model-root)
  std::string data;    // data read: questions, block stores, text (--data-root)
  std::string output;  // what jobs write: checkpoints, embeddings (--output-root)
};

/// --model-root, --data-root, --output-root (ORQA_MODEL_ROOT, ...).
void AddPathRootFlags(FlagSet& flags, PathRoots* roots);

/// Each root given must be an existing directory; they are made canonical
/// (so a symlinked root compares as what it points to).
absl::Status ValidatePathRoots(PathRoots* roots);

/// OK when `root` is empty or `path` resolves inside it (or is it); else
/// PERMISSION_DENIED "FIELD: PATH is outside ROOT_FLAG ROOT" (and where a
/// symlink led). An empty path is OK (the field is unset).
absl::Status CheckUnderRoot(const std::string& field, const std::string& path, const std::string& root,
                            const char* root_flag);

}  // namespace orqa
