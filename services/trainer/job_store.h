#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orqa/v1/trainer.pb.h"

namespace orqa {

/// The persisted job table: one JSON file per job under `<state_dir>/jobs/`,
/// each written to a temporary file, fsynced and renamed, so a crash leaves
/// either the previous or the new version of a job, never a torn one.
class JobStore {
 public:
  /// Creates `<state_dir>/jobs` if needed; errors name the directory.
  static absl::StatusOr<JobStore> Open(const std::string& state_dir);

  /// Every job on disk. A file that does not parse is an error naming it.
  absl::StatusOr<std::vector<orqa::v1::Job>> LoadAll() const;

  /// Writes one job atomically.
  absl::Status Save(const orqa::v1::Job& job) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace orqa
