#include "common/fetch/model_source.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/fetch/hf_hub.h"

namespace orqa {
namespace {

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

void SplitRevision(const std::string& name, std::string* repo, std::string* revision) {
  const size_t at = name.find('@');
  *repo = name.substr(0, at);
  *revision = at == std::string::npos ? "main" : name.substr(at + 1);
}

}  // namespace

bool NamesHubModel(const std::string& name) {
  if (name.empty() || Exists(name)) return false;
  std::string repo, revision;
  SplitRevision(name, &repo, &revision);
  return IsHubRepoId(repo) && !revision.empty();
}

absl::StatusOr<std::string> ResolveModelPath(const std::string& name, const std::string& what, bool download) {
  if (name.empty() || Exists(name)) return name;
  if (!NamesHubModel(name)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read '", name,
                                                   "': No such file or directory, and it is not a Hugging Face model id "
                                                   "(org/name[@revision])"));
  }
  std::string repo, revision;
  SplitRevision(name, &repo, &revision);
  const HubSettings hub = HubSettings::FromEnvironment();
  auto cached = CachedHubSnapshot(repo, revision, hub);
  // A snapshot pulled with --include may lack the model itself: complete it (online).
  if (cached.ok() && (hub.offline || !download || Exists(*cached + "/config.json"))) return cached;
  if (!download && !hub.offline) {
    return absl::FailedPreconditionError(absl::StrCat(what, " ", name, ": ", cached.status().message(),
                                                      "; run `orqa pull ", name, "` on this host first"));
  }
  HubPullOptions options;
  options.revision = revision;
  auto pulled = PullHubRepo(repo, options, hub);
  if (!pulled.ok()) return absl::Status(pulled.status().code(), absl::StrCat(what, " ", name, ": ", pulled.status().message()));
  return pulled;
}

}  // namespace orqa
