#include "services/trainer/job_store.h"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/io/tensor_view.h"

namespace orqa {
namespace fs = std::filesystem;

absl::StatusOr<JobStore> JobStore::Open(const std::string& state_dir) {
  JobStore s;
  s.dir_ = state_dir + "/jobs";
  std::error_code ec;
  fs::create_directories(s.dir_, ec);
  if (ec || !fs::is_directory(s.dir_)) {
    return absl::PermissionDeniedError(absl::StrCat(s.dir_, ": cannot create the job table: ", ec.message()));
  }
  return s;
}

absl::StatusOr<std::vector<orqa::v1::Job>> JobStore::LoadAll() const {
  std::vector<orqa::v1::Job> jobs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".json") continue;  // *.tmp of an interrupted write
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    orqa::v1::Job job;
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;  // files from a newer trainer
    auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &job, opts);
    if (!st.ok()) return absl::DataLossError(absl::StrCat(path, ": not a job record: ", st.ToString()));
    jobs.push_back(std::move(job));
  }
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dir_, ": cannot list: ", ec.message()));
  return jobs;
}

absl::Status JobStore::Save(const orqa::v1::Job& job) const {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(job, &json, opts);
  if (!st.ok()) return absl::InternalError(absl::StrCat("job ", job.job_id(), ": ", st.ToString()));
  const std::string path = absl::StrCat(dir_, "/", job.job_id(), ".json"), tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot write: ", std::strerror(errno)));
  const bool ok = std::fwrite(json.data(), 1, json.size(), f) == json.size();
  return CommitFile(f, tmp, path, ok);
}

}  // namespace orqa
