#include "common/fetch/hf_hub.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/fetch/download.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool IsHex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isxdigit(c); });
}

// A path from the server that stays inside the snapshot folder.
bool SafeRelativePath(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.size() > 4096) return false;
  for (absl::string_view part : absl::StrSplit(p, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

// "W/\"abc\"" -> "abc", as huggingface_hub normalises etags.
std::string NormalizeEtag(std::string e) {
  if (absl::StartsWith(e, "W/")) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

bool ParseInt64(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return false;
  }
  *v = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

// The URL of rel="next" in a Link header, or "".
std::string NextLink(const std::string& link) {
  for (absl::string_view part : absl::StrSplit(link, ',')) {
    if (!absl::StrContains(part, "rel=\"next\"")) continue;
    const size_t lt = part.find('<'), gt = part.find('>');
    if (lt != absl::string_view::npos && gt != absl::string_view::npos && gt > lt) {
      return std::string(part.substr(lt + 1, gt - lt - 1));
    }
  }
  return "";
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot write"));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// An exclusive flock on `path`, the lock file huggingface_hub takes for a blob.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_;
};

class Hub {
 public:
  Hub(const std::string& repo, const HubPullOptions& o, const HubSettings& hub)
      : repo_(repo), o_(o), hub_(hub), http_(o.http), dir_(HubRepoCacheDir(hub, repo)) {}

  absl::StatusOr<std::string> Pull();

 private:
  struct RemoteFile {
    std::string path, commit, etag, location;
    int64_t size = -1;
  };

  std::vector<std::string> AuthHeaders(const std::string& url) const {
    if (hub_.token.empty() || UrlOrigin(url) != UrlOrigin(hub_.endpoint)) return {};
    return {absl::StrCat("Authorization: Bearer ", hub_.token)};
  }
  absl::Status HubError(const HttpResponse& r, const std::string& file) const;
  absl::StatusOr<std::vector<std::string>> ListFiles();
  absl::StatusOr<RemoteFile> Resolve(const std::string& path);
  absl::Status Link(const RemoteFile& f);

  std::string repo_;
  HubPullOptions o_;
  HubSettings hub_;
  HttpClient http_;
  std::string dir_;
};

absl::Status Hub::HubError(const HttpResponse& r, const std::string& file) const {
  const std::string code = r.Header("x-error-code");
  std::string server = r.Header("x-error-message");
  if (server.empty() && !r.body.empty()) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) server = j["error"].get<std::string>();
  }
  const std::string said = server.empty() ? "" : absl::StrCat(" (the Hub says: ", server.substr(0, 300), ")");
  const std::string where = absl::StrCat(repo_, " at ", hub_.endpoint, ", revision ", o_.revision,
                                         file.empty() ? "" : absl::StrCat(", file ", file));
  if (r.status == 401 || (r.status == 403 && code != "GatedRepo")) {
    return absl::PermissionDeniedError(absl::StrCat(
        where, ": HTTP ", r.status, said, ": the repo is private or gated, or the token is wrong: ",
        hub_.token.empty() ? "set HF_TOKEN (or write a token to $HF_HOME/token)" : "check HF_TOKEN"));
  }
  if (r.status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(where, ": HTTP 403", said,
                                                    ": a gated repo: accept its terms on the Hub, with the account of HF_TOKEN"));
  }
  if (r.status == 404) {
    const char* what = code == "RevisionNotFound" ? "no such revision"
                       : code == "EntryNotFound"  ? "no such file"
                       : file.empty()             ? "no such repo or revision"
                                                  : "no such repo, revision or file";
    return absl::NotFoundError(absl::StrCat(where, ": HTTP 404, ", what, said));
  }
  return absl::UnavailableError(absl::StrCat(where, ": HTTP ", r.status, said));
}

absl::StatusOr<std::vector<std::string>> Hub::ListFiles() {
  std::string url = absl::StrCat(hub_.endpoint, "/api/models/", repo_, "/tree/", UrlEncode(o_.revision, false),
                                 "?recursive=true&expand=false");
  std::vector<std::string> files;
  for (int page = 0; !url.empty(); ++page) {
    if (page > 10000) return absl::DataLossError(absl::StrCat(repo_, ": the tree listing never ends"));
    auto r = http_.Call([&] { return HttpRequest{false, url, AuthHeaders(url), -1, nullptr, nullptr}; },
                        absl::StrCat(repo_, ": listing files"));
    if (!r.ok()) return r.status();
    if (r->status != 200) return HubError(*r, "");
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_array()) {
      return absl::DataLossError(absl::StrCat(url, ": the tree listing is not a JSON array"));
    }
    for (const auto& e : j) {
      if (!e.is_object() || !e.contains("path") || !e["path"].is_string()) {
        return absl::DataLossError(absl::StrCat(url, ": a tree entry without a string \"path\""));
      }
      if (e.value("type", "file") != "file") continue;
      const std::string path = e["path"].get<std::string>();
      if (!SafeRelativePath(path)) {
        return absl::DataLossError(absl::StrCat(url, ": refusing the file path '", path, "' (outside the snapshot)"));
      }
      bool wanted = o_.include.empty();
      for (const auto& g : o_.include) wanted = wanted || fnmatch(g.c_str(), path.c_str(), 0) == 0;
      if (wanted) files.push_back(path);
    }
    const std::string next = NextLink(r->Header("link"));
    url = next.empty() ? "" : ResolveUrl(url, next);
  }
  return files;
}

absl::StatusOr<Hub::RemoteFile> Hub::Resolve(const std::string& path) {
  std::string url = absl::StrCat(hub_.endpoint, "/", repo_, "/resolve/", UrlEncode(o_.revision, false), "/",
                                 UrlEncode(path, true));
  for (int hops = 0;; ++hops) {
    auto r = http_.Call([&] { return HttpRequest{true, url, AuthHeaders(url), -1, nullptr, nullptr}; },
                        absl::StrCat(repo_, ": ", path));
    if (!r.ok()) return r.status();
    const std::string location = r->Header("location");
    const bool redirect = r->status >= 300 && r->status < 400;
    // Relative redirects (a renamed repo, the resolve cache) are followed;
    // an absolute one is the file's download address.
    if (redirect && !location.empty() && location.find("://") == std::string::npos) {
      if (hops >= 10) return absl::DataLossError(absl::StrCat(url, ": more than 10 redirects"));
      url = ResolveUrl(url, location);
      continue;
    }
    if (!(r->status >= 200 && r->status < 300) && !redirect) return HubError(*r, path);
    RemoteFile f;
    f.path = path;
    f.commit = r->Header("x-repo-commit");
    f.etag = NormalizeEtag(r->Header("x-linked-etag").empty() ? r->Header("etag") : r->Header("x-linked-etag"));
    const std::string size = r->Header("x-linked-size").empty() ? r->Header("content-length") : r->Header("x-linked-size");
    f.location = redirect ? ResolveUrl(url, location) : url;
    if (f.commit.size() != 40 || !IsHex(f.commit)) {
      return absl::DataLossError(absl::StrCat(url, ": no commit hash in X-Repo-Commit (got '", f.commit.substr(0, 64),
                                              "'): is HF_ENDPOINT a Hugging Face Hub?"));
    }
    if (f.etag.size() < 8 || f.etag.size() > 128 ||
        !std::all_of(f.etag.begin(), f.etag.end(), [](char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; })) {
      return absl::DataLossError(absl::StrCat(url, ": no usable ETag (got '", f.etag.substr(0, 64), "')"));
    }
    if (!ParseInt64(size, &f.size)) {
      return absl::DataLossError(absl::StrCat(url, ": no file size in X-Linked-Size or Content-Length"));
    }
    return f;
  }
}

absl::Status Hub::Link(const RemoteFile& f) {
  const std::string link = absl::StrCat(dir_, "/snapshots/", f.commit, "/", f.path);
  ORQA_RETURN_IF_ERROR(MakeDirs(link.substr(0, link.rfind('/'))));
  std::string target;
  for (size_t i = 0; i < 2 + static_cast<size_t>(std::count(f.path.begin(), f.path.end(), '/')); ++i) target += "../";
  target += "blobs/" + f.etag;
  char current[4096];
  const ssize_t n = readlink(link.c_str(), current, sizeof(current));
  if (n > 0 && std::string(current, n) == target) return absl::OkStatus();
  const std::string tmp = absl::StrCat(link, ".tmp.", getpid());
  unlink(tmp.c_str());
  if (symlink(target.c_str(), tmp.c_str()) != 0 || rename(tmp.c_str(), link.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(link, ": cannot link: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Hub::Pull() {
  auto listed = ListFiles();
  if (!listed.ok()) return listed.status();
  if (listed->empty()) {
    return absl::NotFoundError(absl::StrCat(repo_, " (revision ", o_.revision, "): no file matches ",
                                            o_.include.empty() ? "(the repo is empty)" : absl::StrJoin(o_.include, " ")));
  }
  std::vector<RemoteFile> files;
  int64_t total = 0, missing = 0;
  for (const std::string& path : *listed) {
    auto f = Resolve(path);
    if (!f.ok()) return f.status();
    if (!files.empty() && f->commit != files.front().commit) {
      return absl::UnavailableError(absl::StrCat(repo_, ": revision ", o_.revision, " moved from ",
                                                 files.front().commit, " to ", f->commit, " during the pull; run again"));
    }
    total += f->size;
    struct stat st;
    const std::string blob = absl::StrCat(dir_, "/blobs/", f->etag);
    if (stat(blob.c_str(), &st) != 0) {
      const int64_t partial = stat((blob + ".incomplete").c_str(), &st) == 0 ? st.st_size : 0;
      missing += std::max<int64_t>(0, f->size - partial);
    }
    files.push_back(*f);
  }
  ORQA_RETURN_IF_ERROR(MakeDirs(dir_ + "/blobs"));
  ORQA_RETURN_IF_ERROR(MakeDirs(dir_ + "/refs"));
  const std::string locks = absl::StrCat(hub_.cache_dir, "/.locks/", dir_.substr(dir_.rfind('/') + 1));
  ORQA_RETURN_IF_ERROR(MakeDirs(locks));
  ORQA_RETURN_IF_ERROR(CheckFreeSpace(dir_ + "/blobs", missing, absl::StrCat(repo_, " (", files.size(), " files)")));
  TransferProgress progress(static_cast<int>(files.size()), total, o_.quiet);
  int transferred = 0, present = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const RemoteFile& f = files[i];
    const std::string blob = absl::StrCat(dir_, "/blobs/", f.etag);
    FileLock lock(absl::StrCat(locks, "/", f.etag, ".lock"));
    struct stat st;
    progress.StartFile(static_cast<int>(i + 1), f.path, f.size);
    if (stat(blob.c_str(), &st) == 0 && st.st_size == f.size) {
      progress.Skip(f.size);
      ++present;
    } else {
      FileDownload d;
      d.url = f.location;
      d.headers = AuthHeaders(f.location);
      d.name = absl::StrCat(repo_, ": ", f.path);
      d.partial_path = blob + ".incomplete";
      d.final_path = blob;
      d.expected.size = f.size;
      if (f.etag.size() == 64 && IsHex(f.etag)) d.expected.sha256 = absl::AsciiStrToLower(f.etag);
      if (f.etag.size() == 40 && IsHex(f.etag)) d.expected.git_sha1 = absl::AsciiStrToLower(f.etag);
      ORQA_RETURN_IF_ERROR(DownloadVerified(http_, d, &progress));
      ++transferred;
    }
    progress.EndFile();
    ORQA_RETURN_IF_ERROR(Link(f));
  }
  const std::string commit = files.front().commit;
  if (o_.revision != commit) {
    const std::string ref = absl::StrCat(dir_, "/refs/", o_.revision);
    ORQA_RETURN_IF_ERROR(MakeDirs(ref.substr(0, ref.rfind('/'))));
    ORQA_RETURN_IF_ERROR(WriteFileAtomically(ref, commit));
  }
  const std::string snapshot = absl::StrCat(dir_, "/snapshots/", commit);
  if (!o_.dest.empty()) {
    for (const RemoteFile& f : files) {
      const std::string out = absl::StrCat(o_.dest, "/", f.path);
      ORQA_RETURN_IF_ERROR(MakeDirs(out.substr(0, out.rfind('/'))));
      const std::string blob = absl::StrCat(dir_, "/blobs/", f.etag);
      std::error_code ec;
      fs::remove(out, ec);
      fs::create_hard_link(blob, out, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(blob, out, fs::copy_options::overwrite_existing, ec);
      }
      if (ec) return absl::PermissionDeniedError(absl::StrCat(out, ": cannot write: ", ec.message()));
    }
  }
  if (!o_.quiet) std::fprintf(stderr, "%s\n", progress.Summary(transferred, present).c_str());
  return snapshot;
}

}  // namespace

HubSettings HubSettings::FromEnvironment() {
  HubSettings s;
  s.endpoint = Env("HF_ENDPOINT").empty() ? "https://huggingface.co" : Env("HF_ENDPOINT");
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  std::string home = Env("HF_HOME");
  if (home.empty()) {
    const std::string xdg = Env("XDG_CACHE_HOME");
    home = (xdg.empty() ? Env("HOME") + "/.cache" : xdg) + "/huggingface";
  }
  s.cache_dir = !Env("HF_HUB_CACHE").empty()            ? Env("HF_HUB_CACHE")
                : !Env("HUGGINGFACE_HUB_CACHE").empty() ? Env("HUGGINGFACE_HUB_CACHE")
                                                        : home + "/hub";
  s.token = Env("HF_TOKEN");
  if (s.token.empty()) s.token = Env("HUGGING_FACE_HUB_TOKEN");
  if (s.token.empty()) {
    std::ifstream in(Env("HF_TOKEN_PATH").empty() ? home + "/token" : Env("HF_TOKEN_PATH"));
    std::getline(in, s.token);
  }
  s.token = std::string(absl::StripAsciiWhitespace(s.token));
  const std::string off = absl::AsciiStrToLower(Env("HF_HUB_OFFLINE"));
  s.offline = off == "1" || off == "on" || off == "yes" || off == "true";
  return s;
}

bool IsHubRepoId(const std::string& s) {
  if (s.empty() || s.size() > 96 || absl::StrContains(s, "--") || absl::StrContains(s, "..")) return false;
  std::vector<std::string> parts = absl::StrSplit(s, '/');
  if (parts.size() > 2) return false;
  for (const std::string& p : parts) {
    if (p.empty() || p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') return false;
    for (char c : p) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
    }
  }
  return true;
}

std::string HubRepoCacheDir(const HubSettings& hub, const std::string& repo) {
  std::string name = repo;
  size_t at;
  while ((at = name.find('/')) != std::string::npos) name.replace(at, 1, "--");
  return absl::StrCat(hub.cache_dir, "/models--", name);
}

absl::StatusOr<std::string> CachedHubSnapshot(const std::string& repo, const std::string& revision,
                                              const HubSettings& hub) {
  const std::string dir = HubRepoCacheDir(hub, repo);
  std::string commit = revision;
  std::ifstream ref(absl::StrCat(dir, "/refs/", revision));
  if (ref) std::getline(ref, commit);
  commit = std::string(absl::StripAsciiWhitespace(commit));
  const std::string snapshot = absl::StrCat(dir, "/snapshots/", commit);
  struct stat st;
  if (!commit.empty() && SafeRelativePath(commit) && stat(snapshot.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return snapshot;
  }
  return absl::NotFoundError(
      absl::StrCat(repo, " (revision ", revision, ") is not in the Hugging Face cache ", hub.cache_dir));
}

absl::StatusOr<std::string> PullHubRepo(const std::string& repo, const HubPullOptions& options,
                                        const HubSettings& hub) {
  if (!IsHubRepoId(repo)) {
    return absl::InvalidArgumentError(absl::StrCat("'", repo, "' is not a Hugging Face model id (org/name)"));
  }
  if (options.revision.empty() || !SafeRelativePath(options.revision)) {
    return absl::InvalidArgumentError(absl::StrCat("--revision '", options.revision, "': not a branch, tag or commit"));
  }
  if (hub.offline) {
    auto cached = CachedHubSnapshot(repo, options.revision, hub);
    if (cached.ok()) return cached;
    return absl::FailedPreconditionError(
        absl::StrCat(cached.status().message(), ", and HF_HUB_OFFLINE is set: it cannot be downloaded"));
  }
  return Hub(repo, options, hub).Pull();
}

}  // namespace orqa
