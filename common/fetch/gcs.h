#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fetch/http.h"

namespace orqa {

/// Where Cloud Storage is: https://storage.googleapis.com, or the emulator
/// STORAGE_EMULATOR_HOST names (as Google's client libraries read it). A
/// bearer token from CLOUDSDK_AUTH_ACCESS_TOKEN (gcloud's) for private
/// buckets; the public REALM/ORQA buckets need none.
struct GcsSettings {
  std::string endpoint;
  std::string token;
  static GcsSettings FromEnvironment();
};

struct GcsPullOptions {
  /// Local folder; an object PREFIX/a/b of gs://BUCKET/PREFIX lands in
  /// DEST/<last part of PREFIX>/a/b, as `gsutil cp -r` places it.
  std::string dest = ".";
  /// The project billed for a requester-pays bucket (userProject).
  std::string billing_project;
  bool quiet = false;
  HttpOptions http;
};

/// Downloads every object under gs://BUCKET/PREFIX (listed through the JSON
/// API, paginated by pageToken) from https://storage.googleapis.com/BUCKET/OBJECT:
/// free space checked first, a partial file (`FILE.orqa-partial`) resumed
/// with Range, size and crc32c (and md5 where the object has one) verified
/// before the file is renamed into place. A file already there with the
/// object's size and crc32c is not fetched again. Returns the local folder.
absl::StatusOr<std::string> PullGcsPrefix(const std::string& gs_url, const GcsPullOptions& options,
                                          const GcsSettings& gcs);

/// What the original project's download.sh fetches.
const std::vector<std::string>& SeedDataSources();

}  // namespace orqa
