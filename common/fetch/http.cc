#include "common/fetch/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace orqa {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State of one transfer, shared with libcurl's callbacks.
struct Transfer {
  const HttpRequest* request;
  HttpResponse response;
  bool headers_done = false;
  bool body_to_sink = false;
  bool aborted = false;  // by on_headers or the sink
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.compare(0, 5, "HTTP/") == 0) {  // a status line starts a new response (after 1xx)
    t->response.headers.clear();
    t->headers_done = false;
    const size_t sp = line.find(' ');
    t->response.status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  if (line.empty()) {
    if (t->response.status >= 100 && t->response.status < 200) return size * n;
    t->headers_done = true;
    t->body_to_sink = t->request->sink && t->response.status >= 200 && t->response.status < 300;
    if (t->response.status >= 200 && t->response.status < 300 && t->request->on_headers &&
        !t->request->on_headers(t->response)) {
      t->aborted = true;
      return 0;
    }
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  t->response.headers.emplace_back(std::move(name), std::move(value));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (t->body_to_sink) {
    if (!t->request->sink(data, bytes)) {
      t->aborted = true;
      return 0;
    }
    return bytes;
  }
  const bool is_error = t->response.status < 200 || t->response.status >= 300;
  const size_t room = is_error ? kMaxErrorBody - std::min(kMaxErrorBody, t->response.body.size()) : bytes;
  t->response.body.append(data, std::min(bytes, room));
  return bytes;
}

void StderrLog(const std::string& line) { std::fprintf(stderr, "orqa: %s\n", line.c_str()); }

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

bool IsRetryableHttpStatus(long status) { return status == 408 || status == 429 || status >= 500; }

std::string UrlOrigin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  const size_t end = url.find_first_of("/?#", scheme + 3);
  return absl::AsciiStrToLower(url.substr(0, end));
}

std::string ResolveUrl(const std::string& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  if (!location.empty() && location[0] == '/') return UrlOrigin(base) + location;
  const size_t query = base.find('?');
  const std::string path = base.substr(0, query);
  return path.substr(0, path.rfind('/') + 1) + location;
}

std::string UrlEncode(std::string_view s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
  GlobalInit();
  if (!options_.log) options_.log = StderrLog;
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

absl::StatusOr<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return absl::InternalError("libcurl: cannot create a handle");
  curl_easy_reset(c);
  Transfer t{&request, {}, false, false, false};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "orqa/" ORQA_VERSION);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout_s));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.read_timeout_s));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (request.head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  struct curl_slist* headers = nullptr;
  // Bytes as stored: a transparent compression would break Range and the checksums.
  headers = curl_slist_append(headers, "Accept-Encoding: identity");
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  if (request.range_from >= 0) {
    headers = curl_slist_append(headers, absl::StrCat("Range: bytes=", request.range_from, "-").c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK && !(t.aborted && (rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK))) {
    return absl::UnavailableError(
        absl::StrCat(request.url, ": ", error[0] ? error : curl_easy_strerror(rc)));
  }
  if (t.aborted) return absl::AbortedError(absl::StrCat(request.url, ": transfer stopped by the receiver"));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code != 0) t.response.status = code;
  return std::move(t.response);
}

absl::StatusOr<HttpResponse> HttpClient::Call(const std::function<HttpRequest()>& make, const std::string& what) {
  double wait = options_.backoff_s;
  absl::StatusOr<HttpResponse> last = absl::UnknownError("no attempt");
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    last = Send(make());
    std::string why;
    double pause = wait;
    if (!last.ok()) {
      if (last.status().code() != absl::StatusCode::kUnavailable) return last;
      why = std::string(last.status().message());
    } else if (IsRetryableHttpStatus(last->status)) {
      why = absl::StrCat("HTTP ", last->status);
      const std::string retry_after = last->Header("retry-after");
      if (!retry_after.empty()) {
        const double s = std::atof(retry_after.c_str());
        if (s > 0 && s <= 60) pause = s;
      }
    } else {
      return last;
    }
    if (attempt == options_.max_attempts) break;
    options_.log(absl::StrFormat("%s: %s; attempt %d of %d in %.0f s", what, why, attempt + 1,
                                 options_.max_attempts, pause));
    std::this_thread::sleep_for(std::chrono::duration<double>(pause));
    wait = std::min(wait * 2, 30.0);
  }
  return last;
}

}  // namespace orqa
