#include "common/infra/path_roots.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace orqa {
namespace {

// `path` as the kernel would reach it: the longest existing prefix through
// realpath(3) (symlinks followed), the rest appended with "." and ".."
// applied lexically. "" when nothing of it exists (not even "/").
std::string Resolve(const std::string& path) {
  std::string absolute = path;
  if (absolute.empty() || absolute[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd))) return "";
    absolute = std::string(cwd) + "/" + absolute;
  }
  // Split into components; resolve the longest existing prefix.
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < absolute.size()) {
    size_t j = absolute.find('/', i);
    if (j == std::string::npos) j = absolute.size();
    if (j > i) parts.push_back(absolute.substr(i, j - i));
    i = j + 1;
  }
  for (size_t keep = parts.size() + 1; keep-- > 0;) {
    std::string prefix = "/";
    for (size_t k = 0; k < keep; ++k) prefix += (k ? "/" : "") + parts[k];
    char real[PATH_MAX];
    if (!realpath(prefix.c_str(), real)) continue;
    std::string out = real;
    for (size_t k = keep; k < parts.size(); ++k) {
      if (parts[k] == ".") continue;
      if (parts[k] == "..") {
        const size_t slash = out.rfind('/');
        out = slash == 0 ? "/" : out.substr(0, slash);
        continue;
      }
      out += (out == "/" ? "" : "/") + parts[k];
    }
    return out;
  }
  return "";
}

}  // namespace

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
    struct stat st;
    char real[PATH_MAX];
    if (stat(root->c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(root->c_str(), real)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", *root, "' is not a directory"));
    }
    *root = real;
  }
  return absl::OkStatus();
}

absl::Status CheckUnderRoot(const std::string& field, const std::string& path, const std::string& root,
                            const char* root_flag) {
  if (root.empty() || path.empty()) return absl::OkStatus();
  const std::string resolved = Resolve(path);
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
