#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/fetch/http.h"

namespace orqa {

/// What a downloaded file must be; each check that is set is made before the
/// file is moved into place.
struct ExpectedContent {
  int64_t size = -1;
  std::string sha256;    // hex: a Hub LFS file's etag
  std::string git_sha1;  // hex: a Hub file kept in git (sha1 of "blob SIZE\0" + bytes)
  bool has_crc32c = false;
  uint32_t crc32c = 0;   // Cloud Storage
  std::string md5;       // hex: Cloud Storage, where the object has one
};

/// Bytes, rate, ETA and "file i of n" of a whole pull on stderr: redrawn in
/// place on a terminal, a line every few seconds otherwise, nothing when quiet.
class TransferProgress {
 public:
  TransferProgress(int files, int64_t total_bytes, bool quiet);
  void StartFile(int index, const std::string& name, int64_t size);
  void Add(int64_t bytes);                    // bytes received
  void Skip(int64_t bytes) { done_ += bytes; }  // bytes already there (resumed, cached)
  void EndFile();
  /// "pulled 3 files (7.9 GB) in 21 s, 380 MB/s; 4 already there".
  std::string Summary(int transferred, int present) const;
  int64_t received() const { return received_; }

 private:
  void Draw(bool force);
  int files_;
  int64_t total_;
  bool quiet_, tty_;
  int index_ = 0;
  std::string name_;
  int64_t done_ = 0, received_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_{};
};

/// One file to fetch: `partial_path` holds what arrived so far and is kept
/// between runs; the next run asks for the rest with `Range: bytes=N-` (a
/// server that answers 200 instead restarts it cleanly). Once complete and
/// verified it is renamed to `final_path`; a failed check deletes the
/// partial file (nothing else) and names the file.
struct FileDownload {
  std::string url;
  std::vector<std::string> headers;
  std::string name;  // in messages, e.g. "google/realm-orqa-nq-openqa: pytorch_model.bin"
  std::string partial_path;
  std::string final_path;
  ExpectedContent expected;
};

absl::Status DownloadVerified(HttpClient& http, const FileDownload& file, TransferProgress* progress);

/// ResourceExhausted, before any byte moves, when the file system holding
/// `dir` has less than `bytes` free: names what needs it, both sizes and dir.
absl::Status CheckFreeSpace(const std::string& dir, int64_t bytes, const std::string& what);

/// Verifies a complete local file against `expected` (reads it once).
absl::Status VerifyFile(const std::string& path, const ExpectedContent& expected, const std::string& name);

/// "7.91 GB", "512.0 MB", "12 KB".
std::string HumanBytes(int64_t bytes);

/// Creates `dir` and its parents; an error names the directory.
absl::Status MakeDirs(const std::string& dir);

}  // namespace orqa
