#include "common/index/prepared.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/index/block_import.h"
#include "common/index/embeddings.h"
#include "common/io/crc32c.h"
#include "common/io/tf_bundle.h"

namespace orqa {
namespace {

bool IsFile(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string Dirname(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

absl::Status MakeDir(const std::string& dir) {
  std::string partial;
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      partial = dir.substr(0, i);
      if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::PermissionDeniedError(absl::StrCat(partial, ": cannot create directory"));
      }
    }
  }
  return absl::OkStatus();
}

// Builds `out` with `make(tmp)` unless it exists, under an exclusive lock so
// that concurrent starts (two retriever shards) build it once.
absl::StatusOr<std::string> BuildOnce(const std::string& out, const std::string& what,
                                      const std::function<absl::Status(const std::string&)>& make,
                                      const std::function<void(const std::string&)>& log) {
  if (IsFile(out)) return out;
  if (absl::Status st = MakeDir(Dirname(out)); !st.ok()) return st;
  const int lock = open((out + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) return absl::PermissionDeniedError(absl::StrCat(out, ".lock: cannot create"));
  flock(lock, LOCK_EX);
  absl::Status st;
  if (!IsFile(out)) {
    const auto t0 = std::chrono::steady_clock::now();
    if (log) log(absl::StrCat("preparing ", what, " once: ", out));
    const std::string tmp = absl::StrCat(out, ".tmp.", getpid());
    st = make(tmp);
    if (st.ok() && rename(tmp.c_str(), out.c_str()) != 0) {
      st = absl::PermissionDeniedError(absl::StrCat(out, ": cannot move into place"));
    }
    if (!st.ok()) unlink(tmp.c_str());
    if (st.ok() && log) {
      log(absl::StrFormat("prepared %s in %.1f s", what,
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
    }
  }
  close(lock);
  if (!st.ok()) return st;
  return out;
}

}  // namespace

std::string PreparedPath(const std::string& source, const std::string& suffix) {
  char real[PATH_MAX];
  const std::string resolved = realpath(source.c_str(), real) ? std::string(real) : source;
  const std::string blobs = Dirname(resolved);
  const std::string repo = Dirname(blobs);
  if (Basename(blobs) == "blobs" && absl::StartsWith(Basename(repo), "models--")) {
    return absl::StrCat(repo, "/orqa/", Basename(resolved), ".", suffix);
  }
  struct stat st {};
  stat(resolved.c_str(), &st);
  const std::string key = absl::StrCat(resolved, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string cache = xdg && *xdg ? xdg : absl::StrCat(home ? home : "/tmp", "/.cache");
  return absl::StrFormat("%s/orqa/prepared/%s-%08x.%s", cache, Basename(resolved), Crc32c(key.data(), key.size()),
                         suffix);
}

std::string BlockRecordsIn(const std::string& model_dir) {
  for (const char* name : {"block_records.npy", "blocks.tfr", "blocks.jsonl"}) {
    const std::string p = absl::StrCat(model_dir, "/", name);
    if (IsFile(p)) return p;
  }
  return "";
}

absl::StatusOr<std::string> PreparedBlocks(const std::string& records,
                                           const std::function<void(const std::string&)>& log) {
  return BuildOnce(PreparedPath(records, "blocks"), absl::StrCat("the block store of ", records),
                   [&](const std::string& tmp) -> absl::Status {
                     auto import = ImportBlocks(records, "auto", tmp);
                     if (!import.ok()) return import.status();
                     if (log) log(absl::StrCat(import->blocks, " blocks", DescribeRepairs(*import)));
                     return absl::OkStatus();
                   },
                   log);
}

absl::StatusOr<std::string> PreparedEmbeddings(const std::string& weights,
                                               const std::function<void(const std::string&)>& log) {
  auto prefix = ResolveTFCheckpoint(weights);
  if (!prefix.ok()) return prefix.status();
  if (prefix->empty()) return weights;  // PyTorch / safetensors: mapped where it is
  return BuildOnce(PreparedPath(*prefix + ".index", "block_emb.npy"), absl::StrCat("block_emb of ", *prefix),
                   [&](const std::string& tmp) -> absl::Status {
                     auto m = OpenEmbeddings(*prefix);
                     if (!m.ok()) return m.status();
                     return WriteEmbeddingsNpy(*m, tmp);
                   },
                   log);
}

}  // namespace orqa
