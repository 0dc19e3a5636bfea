#include "common/infra/path_roots.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace orqa {

void AddPathRootFlags(FlagSet& flags, PathRoots* roots) {
  flags.String("model-root", &roots->model,
               "Model directories and weights named in requests (Deploy, Reload, StartJob) must lie under this "
               "folder (symlinks followed); empty: anywhere.");
  flags.String("data-root", &roots->data,
               "Data files named in requests (questions, block stores, embeddings read, text) must lie under this "
               "folder; empty: anywhere.");
  flags.String("output-root", &roots->output,
               "What requested jobs write (checkpoints, embeddings) must go under this folder; empty: anywhere.");
}

absl::Status ValidatePathRoots(PathRoots* roots) {
  for (auto [flag, root] : {std::pair{"--model-root", &roots->model}, std::pair{"--data-root", &roots->data},
                            std::pair{"--output-root", &roots->output}}) {
    if (root->empty()) continue;
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::canonical(*root, ec);
    if (ec || !std::filesystem::is_directory(real, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", *root, "' is not a directory"));
    }
    *root = real.string();
  }
  return absl::OkStatus();
}

absl::Status CheckUnderRoot(const std::string& field, const std::string& path, const std::string& root,
                            const char* root_flag) {
  if (root.empty() || path.empty()) return absl::OkStatus();
  // As the kernel would reach it: the longest existing prefix with symlinks
  // followed, the rest with "." and ".." applied.
  std::error_code ec;
  std::string resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec).string();
  if (ec) resolved.clear();
  while (resolved.size() > 1 && resolved.back() == '/') resolved.pop_back();
  const bool inside = !resolved.empty() &&
                      (resolved == root || (resolved.compare(0, root.size(), root) == 0 &&
                                            (root == "/" || resolved[root.size()] == '/')));
  if (inside) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(field, ": ", path, " is outside ", root_flag, " ", root,
                                                  resolved != path && !resolved.empty()
                                                      ? absl::StrCat(" (it resolves to ", resolved, ")")
                                                      : ""));
}

}  // namespace orqa
