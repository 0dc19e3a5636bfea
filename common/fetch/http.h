#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// One HTTP response: the status line's code, the headers of that response
/// (names lower-cased, in order) and, unless a sink took it, the body.
struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // error bodies always land here (first 64 KiB)
  /// The first value of header `name` (lower-case), or "".
  std::string Header(std::string_view name) const;
};

/// One request. Redirects are never followed by the client: callers decide
/// (the Hub follows relative ones only; an absolute one may be another host,
/// which must not see the Authorization header).
struct HttpRequest {
  bool head = false;
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  int64_t range_from = -1;           // >= 0: "Range: bytes=N-"
  /// Once the headers of a 2xx response are in: may inspect them and return
  /// false to abort before any body byte is taken.
  std::function<bool(const HttpResponse&)> on_headers;
  /// Receives the body of a 2xx response; return false to abort. Without a
  /// sink the body is collected in HttpResponse::body.
  std::function<bool(const char*, size_t)> sink;
};

struct HttpOptions {
  int connect_timeout_s = 15;
  /// A transfer that moves less than one byte a second for this long is a
  /// dropped connection.
  int read_timeout_s = 60;
  /// Attempts of one call (1 = no retry); retried: 408, 429, 5xx, transport errors.
  int max_attempts = 5;
  /// First wait between attempts, doubled each time up to 30 s; a
  /// Retry-After header of up to 60 s is honoured.
  double backoff_s = 1.0;
  /// Where notes about retries go (default: stderr, prefixed "orqa: ").
  std::function<void(const std::string&)> log;
};

/// libcurl with what downloading large public files needs: TLS verification
/// on, proxies from http_proxy / https_proxy / no_proxy (libcurl's own
/// reading), connect and stall timeouts, retries with backoff. One client is
/// used by one thread at a time (its connection is reused).
class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// One attempt. A transport failure (refused, reset, stalled, TLS) is
  /// Unavailable naming the URL and libcurl's reason; an HTTP error status is a
  /// response, not an error.
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request);

  /// Send with retries: `make` builds each attempt's request (a download
  /// resumes from where the last attempt stopped); retried on transport
  /// failures and on 408, 429 and 5xx answers. The last answer or failure
  /// is returned. `what` names the call in the log lines of retries.
  absl::StatusOr<HttpResponse> Call(const std::function<HttpRequest()>& make, const std::string& what);

  const HttpOptions& options() const { return options_; }

 private:
  HttpOptions options_;
  void* curl_ = nullptr;  // CURL*
};

/// True for statuses worth another attempt (408, 429, 5xx).
bool IsRetryableHttpStatus(long status);

/// "scheme://host[:port]" of a URL (lower-cased host), "" when it has none.
std::string UrlOrigin(const std::string& url);

/// `base` joined with a Location value: absolute URLs as they are, "/path"
/// on base's origin, other relative references beside base's path.
std::string ResolveUrl(const std::string& base, const std::string& location);

/// Percent-encodes every byte outside RFC 3986's unreserved set, and '/'
/// too unless `keep_slash`.
std::string UrlEncode(std::string_view s, bool keep_slash);

}  // namespace orqa
