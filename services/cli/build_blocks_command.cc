#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/index/block_import.h"
#include "common/index/block_store.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "services/cli/commands.h"
#include "services/cli/progress.h"

namespace orqa::cli {

int RunBuildBlocks(int argc, char** argv) {
  constexpr char kCmd[] = "orqa build-blocks";
  std::string from, out, format = "auto";
  FlagSet flags(kCmd, "Builds a memory-mapped block store (titles + texts) for orqa-retriever.");
  flags.String("from", &from, "Source: blocks.jsonl, a TFRecord of raw block strings (blocks.tfr), or block_records.npy.");
  flags.String("format", &format, "auto (by extension), jsonl, tfrecord or npy.");
  flags.String("out", &out, "Block store file to write.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (from.empty() || out.empty()) return ReportFatal(kCmd, absl::InvalidArgumentError("--from and --out are required"), 2);
  if (format != "auto" && format != "jsonl" && format != "npy" && format != "tfrecord") {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--format: expected auto, jsonl, tfrecord or npy"), 2);
  }
  if (format == "auto" && BlockSourceFormat(from).empty()) {
    return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
                                 "--from ", from, ": cannot tell the format from the name; pass --format")), 2);
  }
  Progress progress("blocks", 0);
  auto import = ImportBlocks(from, format, out, [&](int64_t n) { progress.Update(n); });
  if (!import.ok()) return ReportFatal(kCmd, import.status());
  progress.Done(import->blocks);
  auto check = BlockStore::Open(out);
  if (!check.ok()) return ReportFatal(kCmd, check.status());
  std::printf("wrote %lld blocks to %s (%.1f MB)%s\n", static_cast<long long>(import->blocks), out.c_str(),
              (*check)->file_bytes() / 1e6, DescribeRepairs(*import).c_str());
  return 0;
}

}  // namespace orqa::cli
