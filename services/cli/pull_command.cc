// `orqa pull`: the released models and data, from the Hugging Face Hub (into
// its shared cache) or from Cloud Storage, resumable and verified.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/fetch/gcs.h"
#include "common/fetch/hf_hub.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "services/cli/commands.h"

namespace orqa::cli {

int RunPull(int argc, char** argv) {
  constexpr char kCmd[] = "orqa pull";
  std::string revision = "main", dest, seed_dir, billing_project;
  std::vector<std::string> include;
  bool quiet = false;
  int max_attempts = 5;
  FlagSet flags("orqa pull SOURCE",
                "Downloads a model from the Hugging Face Hub (SOURCE = org/name, into the cache huggingface_hub "
                "shares: HF_HUB_CACHE / HF_HOME; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) or the objects under "
                "gs://BUCKET/PREFIX (STORAGE_EMULATOR_HOST, CLOUDSDK_AUTH_ACCESS_TOKEN). Resumes partial files, "
                "verifies sizes and checksums, and prints the local folder.");
  flags.String("revision", &revision, "Hub: branch, tag or commit.");
  flags.StringList("include", &include, "Hub: only files matching this glob (repeat; '*' crosses '/').");
  flags.String("dest", &dest, "Hub: also place the files here; gs://: the folder to write (default .).");
  flags.String("seed-data", &seed_dir,
               "Fetch into this folder what the original project's download.sh fetches (cc_news_pretrained, "
               "orqa_nq_model_from_realm, orqa_wq_model_from_realm, enwiki-20181220); no SOURCE.");
  flags.String("billing-project", &billing_project, "gs://: the project billed for a requester-pays bucket.");
  flags.Int("max-attempts", &max_attempts, "Attempts per request before giving up (retries: 408, 429, 5xx, drops).");
  flags.Bool("quiet", &quiet, "No progress, no summary.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (max_attempts < 1 || max_attempts > 100) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat("--max-attempts: expected 1..100, got ", max_attempts)), 2);
  }
  HttpOptions http;
  http.max_attempts = max_attempts;
  std::vector<std::string> sources = flags.positional();
  if (!seed_dir.empty()) {
    if (!sources.empty()) return ReportFatal(kCmd, absl::InvalidArgumentError("--seed-data takes no SOURCE"), 2);
    sources = SeedDataSources();
    dest = seed_dir;
  } else if (sources.size() != 1) {
    return ReportFatal(kCmd, absl::InvalidArgumentError("expected one SOURCE: a Hub model id (org/name) or gs://BUCKET/PREFIX"), 2);
  }
  for (const std::string& source : sources) {
    absl::StatusOr<std::string> where;
    if (source.rfind("gs://", 0) == 0) {
      GcsPullOptions o;
      o.dest = dest.empty() ? "." : dest;
      o.billing_project = billing_project;
      o.quiet = quiet;
      o.http = http;
      where = PullGcsPrefix(source, o, GcsSettings::FromEnvironment());
    } else if (source.find("://") != std::string::npos) {
      return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
                                   "'", source, "': expected a Hub model id (org/name) or gs://BUCKET/PREFIX")), 2);
    } else {
      HubPullOptions o;
      o.revision = revision;
      o.include = include;
      o.dest = dest;
      o.quiet = quiet;
      o.http = http;
      where = PullHubRepo(source, o, HubSettings::FromEnvironment());
    }
    if (!where.ok()) {
      const bool usage = where.status().code() == absl::StatusCode::kInvalidArgument;
      return ReportFatal(kCmd, where.status(), usage ? 2 : 1);
    }
    std::printf("%s\n", (!dest.empty() && source.rfind("gs://", 0) != 0 ? dest : *where).c_str());
  }
  return 0;
}

}  // namespace orqa::cli
