#include "common/fetch/gcs.h"

#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/fetch/download.h"
#include "common/infra/status_util.h"

namespace orqa {
namespace {

struct GcsObject {
  std::string name;
  int64_t size = -1;
  bool has_crc32c = false;
  uint32_t crc32c = 0;
  std::string md5;  // hex
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool Base64Decode(const std::string& in, std::string* out) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const size_t v = kAlphabet.find(c);
    if (v == std::string::npos) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

bool SafeObjectPath(const std::string& p) {
  if (p.empty() || p[0] == '/') return false;
  for (absl::string_view part : absl::StrSplit(p, '/')) {
    if (part == "." || part == "..") return false;
  }
  return true;
}

class Gcs {
 public:
  Gcs(const std::string& bucket, const GcsPullOptions& o, const GcsSettings& s)
      : bucket_(bucket), o_(o), s_(s), http_(o.http) {}

  absl::StatusOr<std::vector<GcsObject>> List(const std::string& prefix);
  absl::Status Fetch(const std::vector<GcsObject>& objects, const std::string& strip);

 private:
  std::vector<std::string> Auth() const {
    if (s_.token.empty()) return {};
    return {absl::StrCat("Authorization: Bearer ", s_.token)};
  }
  std::string UserProject(char sep) const {
    return o_.billing_project.empty() ? "" : absl::StrCat(std::string(1, sep), "userProject=", UrlEncode(o_.billing_project, false));
  }
  absl::Status Error(const HttpResponse& r, const std::string& what) const;

  std::string bucket_;
  GcsPullOptions o_;
  GcsSettings s_;
  HttpClient http_;
};

absl::Status Gcs::Error(const HttpResponse& r, const std::string& what) const {
  std::string message;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
      j["error"]["message"].is_string()) {
    message = j["error"]["message"].get<std::string>();
  }
  const std::string said = message.empty() ? "" : absl::StrCat(" (", message.substr(0, 300), ")");
  if (r.status == 400 && (absl::StrContains(r.body, "UserProjectMissing") || absl::StrContains(r.body, "requester pays"))) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": gs://", bucket_, " is a requester-pays bucket: whoever downloads pays for the transfer; pass "
        "--billing-project PROJECT (a Google Cloud project of yours that is billed)", said));
  }
  if (r.status == 401 || r.status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, ": HTTP ", r.status, said, ": the bucket is not public; set CLOUDSDK_AUTH_ACCESS_TOKEN (gcloud auth print-access-token)"));
  }
  if (r.status == 404) return absl::NotFoundError(absl::StrCat(what, ": HTTP 404, no such bucket or object", said));
  return absl::UnavailableError(absl::StrCat(what, ": HTTP ", r.status, said));
}

absl::StatusOr<std::vector<GcsObject>> Gcs::List(const std::string& prefix) {
  std::vector<GcsObject> out;
  std::string token;
  for (int page = 0;; ++page) {
    if (page > 100000) return absl::DataLossError(absl::StrCat("gs://", bucket_, "/", prefix, ": the listing never ends"));
    const std::string url = absl::StrCat(s_.endpoint, "/storage/v1/b/", UrlEncode(bucket_, false), "/o?prefix=",
                                         UrlEncode(prefix, false),
                                         "&fields=items(name,size,crc32c,md5Hash),nextPageToken",
                                         token.empty() ? "" : absl::StrCat("&pageToken=", UrlEncode(token, false)),
                                         UserProject('&'));
    auto r = http_.Call([&] { return HttpRequest{false, url, Auth(), -1, nullptr, nullptr}; },
                        absl::StrCat("gs://", bucket_, "/", prefix, ": listing"));
    if (!r.ok()) return r.status();
    if (r->status != 200) return Error(*r, absl::StrCat("gs://", bucket_, "/", prefix));
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_object()) return absl::DataLossError(absl::StrCat(url, ": the listing is not a JSON object"));
    if (j.contains("items")) {
      if (!j["items"].is_array()) return absl::DataLossError(absl::StrCat(url, ": \"items\" is not an array"));
      for (const auto& it : j["items"]) {
        GcsObject o;
        if (!it.is_object() || !it.contains("name") || !it["name"].is_string() || !it.contains("size") ||
            !it["size"].is_string()) {
          return absl::DataLossError(absl::StrCat(url, ": an object without a string name and size"));
        }
        o.name = it["name"].get<std::string>();
        const std::string size = it["size"].get<std::string>();
        if (size.empty() || size.size() > 18 ||
            !std::all_of(size.begin(), size.end(), [](char c) { return absl::ascii_isdigit(c); })) {
          return absl::DataLossError(absl::StrCat(url, ": object ", o.name, ": size '", size, "'"));
        }
        o.size = std::strtoll(size.c_str(), nullptr, 10);
        std::string raw;
        if (it.contains("crc32c") && it["crc32c"].is_string()) {
          if (!Base64Decode(it["crc32c"].get<std::string>(), &raw) || raw.size() != 4) {
            return absl::DataLossError(absl::StrCat(url, ": object ", o.name, ": crc32c is not 4 bytes of base64"));
          }
          o.has_crc32c = true;
          o.crc32c = (static_cast<uint32_t>(static_cast<uint8_t>(raw[0])) << 24) |
                     (static_cast<uint32_t>(static_cast<uint8_t>(raw[1])) << 16) |
                     (static_cast<uint32_t>(static_cast<uint8_t>(raw[2])) << 8) | static_cast<uint8_t>(raw[3]);
        }
        if (it.contains("md5Hash") && it["md5Hash"].is_string()) {
          if (!Base64Decode(it["md5Hash"].get<std::string>(), &raw) || raw.size() != 16) {
            return absl::DataLossError(absl::StrCat(url, ": object ", o.name, ": md5Hash is not 16 bytes of base64"));
          }
          for (unsigned char c : raw) o.md5 += absl::StrFormat("%02x", c);
        }
        if (!o.name.empty() && o.name.back() == '/') continue;  // a folder placeholder
        if (!SafeObjectPath(o.name)) {
          return absl::DataLossError(absl::StrCat(url, ": refusing the object name '", o.name, "'"));
        }
        out.push_back(std::move(o));
      }
    }
    if (!j.contains("nextPageToken") || !j["nextPageToken"].is_string()) break;
    token = j["nextPageToken"].get<std::string>();
    if (token.empty()) break;
  }
  return out;
}

absl::Status Gcs::Fetch(const std::vector<GcsObject>& objects, const std::string& strip) {
  int64_t total = 0, missing = 0;
  for (const auto& o : objects) {
    total += o.size;
    missing += o.size;
  }
  ORQA_RETURN_IF_ERROR(MakeDirs(o_.dest));
  ORQA_RETURN_IF_ERROR(CheckFreeSpace(o_.dest, missing, absl::StrCat("gs://", bucket_, "/", strip, " (", objects.size(), " files)")));
  TransferProgress progress(static_cast<int>(objects.size()), total, o_.quiet);
  int transferred = 0, present = 0;
  for (size_t i = 0; i < objects.size(); ++i) {
    const GcsObject& o = objects[i];
    const std::string rel = o.name.substr(strip.size());
    const std::string path = absl::StrCat(o_.dest, "/", rel);
    ORQA_RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
    progress.StartFile(static_cast<int>(i + 1), rel, o.size);
    FileDownload d;
    d.url = absl::StrCat(s_.endpoint, "/", UrlEncode(bucket_, false), "/", UrlEncode(o.name, true), UserProject('?'));
    d.headers = Auth();
    d.name = absl::StrCat("gs://", bucket_, "/", o.name);
    d.partial_path = path + ".orqa-partial";
    d.final_path = path;
    d.expected.size = o.size;
    d.expected.has_crc32c = o.has_crc32c;
    d.expected.crc32c = o.crc32c;
    d.expected.md5 = o.md5;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && st.st_size == o.size && VerifyFile(path, d.expected, d.name).ok()) {
      progress.Skip(o.size);
      ++present;
    } else {
      absl::Status st2 = DownloadVerified(http_, d, &progress);
      if (!st2.ok()) {
        // An HTTP error status from the download host: say it as the listing would.
        return st2;
      }
      ++transferred;
    }
    progress.EndFile();
  }
  if (!o_.quiet) std::fprintf(stderr, "%s\n", progress.Summary(transferred, present).c_str());
  return absl::OkStatus();
}

}  // namespace

GcsSettings GcsSettings::FromEnvironment() {
  GcsSettings s;
  s.endpoint = Env("STORAGE_EMULATOR_HOST");
  if (s.endpoint.empty()) s.endpoint = "https://storage.googleapis.com";
  if (s.endpoint.find("://") == std::string::npos) s.endpoint = "http://" + s.endpoint;
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.token = Env("CLOUDSDK_AUTH_ACCESS_TOKEN");
  return s;
}

const std::vector<std::string>& SeedDataSources() {
  static const std::vector<std::string> kSources = {
      "gs://realm-data/cc_news_pretrained/", "gs://realm-data/orqa_nq_model_from_realm",
      "gs://realm-data/orqa_wq_model_from_realm", "gs://orqa-data/enwiki-20181220/"};
  return kSources;
}

absl::StatusOr<std::string> PullGcsPrefix(const std::string& gs_url, const GcsPullOptions& options,
                                          const GcsSettings& gcs) {
  if (gs_url.rfind("gs://", 0) != 0) return absl::InvalidArgumentError(absl::StrCat("'", gs_url, "': not a gs:// URL"));
  const std::string rest = gs_url.substr(5);
  const size_t slash = rest.find('/');
  const std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (bucket.empty() || bucket.size() > 222 ||
      !std::all_of(bucket.begin(), bucket.end(), [](char c) {
        return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
      })) {
    return absl::InvalidArgumentError(absl::StrCat("'", gs_url, "': not a bucket name"));
  }
  if (!prefix.empty() && !SafeObjectPath(prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix)) {
    return absl::InvalidArgumentError(absl::StrCat("'", gs_url, "': the object prefix has '.' or '..' parts"));
  }
  Gcs g(bucket, options, gcs);
  // As gsutil: gs://b/p names the folder p/ when objects lie under it, else the object p.
  std::string folder = prefix;
  if (!folder.empty() && folder.back() != '/') folder += '/';
  auto objects = g.List(folder);
  if (!objects.ok()) return objects.status();
  std::string strip;  // what is cut from each object name: the prefix's parent folder
  if (objects->empty() && !prefix.empty() && prefix.back() != '/') {
    auto single = g.List(prefix);
    if (!single.ok()) return single.status();
    for (const auto& o : *single) {
      if (o.name == prefix) objects->push_back(o);
    }
  }
  if (objects->empty()) return absl::NotFoundError(absl::StrCat(gs_url, ": no objects"));
  std::string trimmed = prefix;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  strip = trimmed.substr(0, trimmed.rfind('/') == std::string::npos ? 0 : trimmed.rfind('/') + 1);
  ORQA_RETURN_IF_ERROR(g.Fetch(*objects, strip));
  const std::string last = trimmed.substr(strip.size());
  return absl::StrCat(options.dest, "/", last);
}

}  // namespace orqa
