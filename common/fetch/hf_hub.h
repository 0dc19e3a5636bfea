#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fetch/http.h"

namespace orqa {

/// Where the Hugging Face Hub and its cache are, read from the environment as
/// the huggingface_hub library reads it: HF_ENDPOINT (default
/// https://huggingface.co); HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else
/// $HF_HOME/hub (HF_HOME: else $XDG_CACHE_HOME/huggingface, else
/// ~/.cache/huggingface); HF_TOKEN, else the file HF_TOKEN_PATH, else
/// $HF_HOME/token; HF_HUB_OFFLINE=1 (or true/yes/on).
struct HubSettings {
  std::string endpoint;
  std::string cache_dir;
  std::string token;
  bool offline = false;
  static HubSettings FromEnvironment();
};

/// A Hub model id: "name" or "org/name" of letters, digits, '-', '_', '.',
/// no "--" or ".." and no leading or trailing '-' / '.'.
bool IsHubRepoId(const std::string& s);

struct HubPullOptions {
  std::string revision = "main";
  /// fnmatch patterns as huggingface_hub's allow_patterns ("*" crosses "/");
  /// empty: every file.
  std::vector<std::string> include;
  /// Besides the cache, place the files here (hard links where the file
  /// system allows, copies otherwise), as huggingface_hub's local_dir does.
  std::string dest;
  bool quiet = false;
  HttpOptions http;
};

/// The repo's folder in the cache: CACHE/models--org--name.
std::string HubRepoCacheDir(const HubSettings& hub, const std::string& repo);

/// Downloads a model repo into the cache, in huggingface_hub's layout:
/// blobs/<etag> (the LFS sha256 or git blob id), snapshots/<commit>/<path> as
/// relative symlinks to the blobs, refs/<revision> holding the commit. A blob
/// already there is not transferred again; a partial one
/// (blobs/<etag>.incomplete) is resumed. The file list comes from the tree
/// API (paginated); each file is resolved with HEAD .../resolve/<rev>/<path>
/// (X-Repo-Commit, X-Linked-Etag / ETag, X-Linked-Size; relative redirects
/// followed) and fetched from its Location without the Authorization header
/// when that is another host. Returns the snapshot directory. Offline
/// (HF_HUB_OFFLINE): the cached snapshot, or FailedPrecondition.
absl::StatusOr<std::string> PullHubRepo(const std::string& repo, const HubPullOptions& options,
                                        const HubSettings& hub);

/// The cached snapshot of `revision` (a branch or tag through refs/, or a
/// commit), or NotFound naming the cache folder; never touches the network.
absl::StatusOr<std::string> CachedHubSnapshot(const std::string& repo, const std::string& revision,
                                              const HubSettings& hub);

}  // namespace orqa
