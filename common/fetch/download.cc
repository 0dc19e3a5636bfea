#include "common/fetch/download.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/io/crc32c.h"

namespace orqa {
namespace {

std::string Hex(const unsigned char* d, unsigned n) {
  std::string out;
  for (unsigned i = 0; i < n; ++i) out += absl::StrFormat("%02x", d[i]);
  return out;
}

// The checks of ExpectedContent, fed as the bytes arrive.
class ContentHash {
 public:
  explicit ContentHash(const ExpectedContent& e) : e_(e) { Reset(); }
  void Reset() {
    crc_ = 0;
    for (auto& [want, ctx, md] : digests_) EVP_MD_CTX_free(ctx);
    digests_.clear();
    if (!e_.sha256.empty()) Add(EVP_sha256(), "sha256", e_.sha256);
    if (!e_.md5.empty()) Add(EVP_md5(), "md5", e_.md5);
    if (!e_.git_sha1.empty()) {
      Add(EVP_sha1(), "git blob sha1", e_.git_sha1);
      const std::string prefix = absl::StrCat("blob ", e_.size, std::string(1, '\0'));
      EVP_DigestUpdate(std::get<1>(digests_.back()), prefix.data(), prefix.size());
    }
  }
  ~ContentHash() {
    for (auto& [want, ctx, md] : digests_) EVP_MD_CTX_free(ctx);
  }
  void Update(const char* data, size_t n) {
    if (e_.has_crc32c) crc_ = Crc32c(data, n, crc_);
    for (auto& d : digests_) EVP_DigestUpdate(std::get<1>(d), data, n);
  }
  // "" when everything matches, else what did not.
  std::string Mismatch() {
    if (e_.has_crc32c && crc_ != e_.crc32c) {
      return absl::StrFormat("crc32c %08x, expected %08x", crc_, e_.crc32c);
    }
    for (auto& [what, ctx, want] : digests_) {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned n = 0;
      EVP_DigestFinal_ex(ctx, md, &n);
      const std::string got = Hex(md, n);
      if (got != want) return absl::StrCat(what, " ", got, ", expected ", want);
    }
    return "";
  }

 private:
  void Add(const EVP_MD* md, const char* what, const std::string& want) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, md, nullptr);
    digests_.emplace_back(what, ctx, want);
  }
  const ExpectedContent& e_;
  uint32_t crc_ = 0;
  std::vector<std::tuple<std::string, EVP_MD_CTX*, std::string>> digests_;
};

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

// Feeds the first `bytes` of `fd` to `hash` (a partial file being resumed).
bool HashPrefix(int fd, int64_t bytes, ContentHash* hash) {
  std::vector<char> buf(4 << 20);
  int64_t off = 0;
  while (off < bytes) {
    const ssize_t n = pread(fd, buf.data(), std::min<int64_t>(buf.size(), bytes - off), off);
    if (n <= 0) return false;
    hash->Update(buf.data(), static_cast<size_t>(n));
    off += n;
  }
  return true;
}

std::string ErrorBody(const HttpResponse& r) {
  std::string b = r.body.substr(0, 300);
  for (char& ch : b) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return b.empty() ? "" : absl::StrCat(": ", b);
}

absl::Status HttpError(const std::string& name, const std::string& url, const HttpResponse& r) {
  const std::string msg = absl::StrCat(name, ": HTTP ", r.status, " from ", UrlOrigin(url), ErrorBody(r));
  if (r.status == 401 || r.status == 403) return absl::PermissionDeniedError(msg);
  if (r.status == 404) return absl::NotFoundError(msg);
  return absl::UnavailableError(msg);
}

}  // namespace

std::string HumanBytes(int64_t b) {
  const double x = static_cast<double>(b);
  if (b >= 1000000000) return absl::StrFormat("%.2f GB", x / 1e9);
  if (b >= 1000000) return absl::StrFormat("%.1f MB", x / 1e6);
  if (b >= 1000) return absl::StrFormat("%.0f KB", x / 1e3);
  return absl::StrFormat("%d B", b);
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  return absl::OkStatus();
}

TransferProgress::TransferProgress(int files, int64_t total_bytes, bool quiet)
    : files_(files), total_(total_bytes), quiet_(quiet), tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void TransferProgress::StartFile(int index, const std::string& name, int64_t /*size*/) {
  index_ = index;
  name_ = name;
  Draw(true);
}

void TransferProgress::Add(int64_t bytes) {
  done_ += bytes;
  received_ += bytes;
  Draw(false);
}

void TransferProgress::EndFile() {
  Draw(true);
  if (!quiet_ && tty_) std::fputc('\n', stderr);
}

void TransferProgress::Draw(bool force) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!tty_ && last_draw_ == std::chrono::steady_clock::time_point{}) last_draw_ = now;  // first line after 5 s
  if (!tty_) force = false;  // a log gets a line every few seconds, not one per file
  if (!force && std::chrono::duration<double>(now - last_draw_).count() < (tty_ ? 0.25 : 5.0)) return;
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? received_ / secs : 0;
  std::string line = absl::StrFormat("[%d/%d] %s  %s", index_, files_, name_, HumanBytes(done_));
  if (total_ > 0) line += absl::StrFormat(" of %s (%.0f%%)", HumanBytes(total_), 100.0 * done_ / total_);
  line += absl::StrFormat("  %s/s", HumanBytes(static_cast<int64_t>(rate)));
  if (total_ > 0 && rate > 0) line += absl::StrFormat("  ETA %.0f s", (total_ - done_) / rate);
  if (tty_) {
    std::fprintf(stderr, "\r%-100s", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

std::string TransferProgress::Summary(int transferred, int present) const {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string s = absl::StrFormat("pulled %d file%s (%s) in %.1f s", transferred, transferred == 1 ? "" : "s",
                                  HumanBytes(received_), secs);
  if (received_ > 0 && secs > 0) s += absl::StrFormat(", %s/s", HumanBytes(static_cast<int64_t>(received_ / secs)));
  if (present > 0) s += absl::StrFormat("; %d already there", present);
  return s;
}

absl::Status CheckFreeSpace(const std::string& dir, int64_t bytes, const std::string& what) {
  struct statvfs vfs;
  if (statvfs(dir.c_str(), &vfs) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot read free space: ", std::strerror(errno)));
  }
  const int64_t free_bytes = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
  if (bytes > free_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(what, " needs ", HumanBytes(bytes), " but ", dir, " has ",
                                                     HumanBytes(free_bytes), " free"));
  }
  return absl::OkStatus();
}

absl::Status VerifyFile(const std::string& path, const ExpectedContent& expected, const std::string& name) {
  const int64_t size = FileSize(path);
  if (expected.size >= 0 && size != expected.size) {
    return absl::DataLossError(absl::StrCat(name, ": ", path, " holds ", size, " bytes, expected ", expected.size));
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  ContentHash hash(expected);
  const bool read = HashPrefix(fd, size, &hash);
  close(fd);
  if (!read) return absl::DataLossError(absl::StrCat(path, ": read error"));
  if (std::string bad = hash.Mismatch(); !bad.empty()) {
    return absl::DataLossError(absl::StrCat(name, ": checksum mismatch: ", bad));
  }
  return absl::OkStatus();
}

absl::Status DownloadVerified(HttpClient& http, const FileDownload& file, TransferProgress* progress) {
  const ExpectedContent& e = file.expected;
  const int fd = open(file.partial_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(file.partial_path, ": cannot write: ", std::strerror(errno)));
  }
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) { close(*f); delete f; });
  ContentHash hash(e);
  int64_t have = FileSize(file.partial_path);
  if (have < 0 || (e.size >= 0 && have > e.size) || !HashPrefix(fd, have, &hash)) {
    if (ftruncate(fd, 0) != 0) return absl::DataLossError(absl::StrCat(file.partial_path, ": cannot truncate"));
    hash.Reset();
    have = 0;
  }
  const std::string dir = file.partial_path.substr(0, file.partial_path.find_last_of('/') + 1);
  if (e.size >= 0) {
    absl::Status space = CheckFreeSpace(dir.empty() ? "." : dir, e.size - have, file.name);
    if (!space.ok()) return space;
  }
  if (progress) progress->Skip(have);
  std::string write_error;
  auto restart = [&] {  // the server ignored the Range: start over
    if (ftruncate(fd, 0) != 0) return false;
    hash.Reset();
    if (progress) progress->Skip(-have);
    have = 0;
    return true;
  };
  auto make = [&] {
    HttpRequest r;
    r.url = file.url;
    r.headers = file.headers;
    const bool ranged = have > 0;
    if (ranged) r.range_from = have;
    r.on_headers = [&, ranged](const HttpResponse& resp) {
      if (!ranged) return true;
      if (resp.status == 206) {
        const std::string cr = resp.Header("content-range");  // "bytes START-END/TOTAL"
        if (cr.rfind(absl::StrCat("bytes ", have, "-"), 0) == 0) return true;
        restart();
        return false;  // another range: ask again for the whole file
      }
      return restart();  // 200: the whole file again
    };
    r.sink = [&](const char* data, size_t n) {
      if (e.size >= 0 && have + static_cast<int64_t>(n) > e.size) {
        write_error = absl::StrCat("the server sent more than the ", e.size, " bytes expected");
        return false;
      }
      size_t off = 0;
      while (off < n) {
        const ssize_t w = pwrite(fd, data + off, n - off, have + static_cast<int64_t>(off));
        if (w <= 0) {
          write_error = absl::StrCat(file.partial_path, ": write failed: ", std::strerror(errno));
          return false;
        }
        off += static_cast<size_t>(w);
      }
      hash.Update(data, n);
      have += static_cast<int64_t>(n);
      if (progress) progress->Add(static_cast<int64_t>(n));
      return true;
    };
    return r;
  };
  for (int round = 0; round < std::max(1, http.options().max_attempts); ++round) {
    if (e.size >= 0 && have == e.size) break;  // complete already (a resumed run)
    auto resp = http.Call(make, file.name);
    if (!write_error.empty()) {
      unlink(file.partial_path.c_str());
      return absl::DataLossError(absl::StrCat(file.name, ": ", write_error, "; the partial file was deleted"));
    }
    if (!resp.ok() && resp.status().code() == absl::StatusCode::kAborted && have == 0) continue;
    if (!resp.ok()) {
      return absl::Status(resp.status().code(),
                          absl::StrCat(file.name, ": ", resp.status().message(), " (", HumanBytes(have),
                                       " kept in ", file.partial_path, "; the next run resumes)"));
    }
    if (resp->status == 416 && e.size >= 0 && have == e.size) break;
    if (resp->status != 200 && resp->status != 206) return HttpError(file.name, file.url, *resp);
    if (e.size < 0 || have == e.size) break;
    // A response that ended early without a transport error: ask for the rest.
  }
  if (e.size >= 0 && have != e.size) {
    return absl::UnavailableError(absl::StrCat(file.name, ": the server ended the transfer at ", have, " of ",
                                               e.size, " bytes (kept in ", file.partial_path,
                                               "; the next run resumes)"));
  }
  if (std::string bad = hash.Mismatch(); !bad.empty()) {
    unlink(file.partial_path.c_str());
    return absl::DataLossError(absl::StrCat(file.name, ": checksum mismatch: ", bad,
                                            "; the download was deleted, nothing was put in place"));
  }
  if (fdatasync(fd) != 0 || rename(file.partial_path.c_str(), file.final_path.c_str()) != 0) {
    return absl::DataLossError(absl::StrCat(file.final_path, ": cannot move into place: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace orqa
