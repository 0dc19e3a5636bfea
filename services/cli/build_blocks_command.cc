#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/infra/flags.h"
#include "common/infra/main_util.h"
#include "common/infra/status_util.h"
#include "common/io/npy.h"
#include "common/io/tfrecord.h"
#include "services/cli/commands.h"
#include "services/cli/progress.h"

namespace orqa::cli {
namespace {

constexpr char kCmd[] = "orqa build-blocks";

bool EndsWith(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

absl::Status FromJsonl(const std::string& path, BlockStoreWriter& w, Progress& p) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = absl::StrCat(path, ": line ", n + 1);
    if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
    if (!j.contains("text") || !j["text"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs a string \"text\""));
    }
    if (j.contains("title") && !j["title"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"title\" must be a string"));
    }
    if (j.contains("id")) {
      if (!j["id"].is_number_integer() || j["id"].get<int64_t>() != n) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": id ", j["id"].dump(), ", expected ", n, " (ids must be 0..N-1 in file order)"));
      }
    }
    ORQA_RETURN_IF_ERROR(w.Add(j.value("title", std::string()), j["text"].get<std::string>()));
    p.Update(++n);
  }
  return absl::OkStatus();
}

}  // namespace

int RunBuildBlocks(int argc, char** argv) {
  std::string from, out, format = "auto";
  FlagSet flags(kCmd, "Builds a memory-mapped block store (titles + texts) for orqa-retriever.");
  flags.String("from", &from, "Source: blocks.jsonl, a TFRecord of raw block strings (blocks.tfr), or block_records.npy.");
  flags.String("format", &format, "auto (by extension), jsonl, tfrecord or npy.");
  flags.String("out", &out, "Block store file to write.");
  if (auto code = ParseFlagsOrExit(flags, argc, argv, kCmd)) return *code;
  if (from.empty() || out.empty()) return ReportFatal(kCmd, absl::InvalidArgumentError("--from and --out are required"), 2);
  if (format == "auto") {
    format = EndsWith(from, ".jsonl") || EndsWith(from, ".json") ? "jsonl"
             : EndsWith(from, ".npy")                            ? "npy"
             : EndsWith(from, ".tfr") || EndsWith(from, ".tfrecord") || EndsWith(from, ".tfrecords") ||
                     EndsWith(from, ".gz")
                 ? "tfrecord"
                 : "";
    if (format.empty()) {
      return ReportFatal(kCmd, absl::InvalidArgumentError(absl::StrCat(
                                   "--from ", from, ": cannot tell the format from the name; pass --format")), 2);
    }
  }
  auto writer = BlockStoreWriter::Create(out);
  if (!writer.ok()) return ReportFatal(kCmd, writer.status());
  Progress progress("blocks", 0);
  absl::Status st;
  if (format == "jsonl") {
    st = FromJsonl(from, **writer, progress);
  } else if (format == "npy") {
    absl::Status add;
    st = ForEachNpyBytes(from, [&](int64_t i, std::string_view text) {
      if (add.ok()) add = (*writer)->Add("", text);
      progress.Update(i + 1);
    });
    if (st.ok()) st = add;
  } else if (format == "tfrecord") {
    auto reader = TFRecordReader::Open(from);
    if (!reader.ok()) return ReportFatal(kCmd, reader.status());
    std::string record;
    while (st.ok()) {
      auto more = reader->Next(&record);
      if (!more.ok()) {
        st = more.status();
        break;
      }
      if (!*more) break;
      st = (*writer)->Add("", record);
      progress.Update(reader->records_read());
    }
  } else {
    return ReportFatal(kCmd, absl::InvalidArgumentError("--format: expected auto, jsonl, tfrecord or npy"), 2);
  }
  if (!st.ok()) return ReportFatal(kCmd, st);
  const int64_t count = (*writer)->count();
  progress.Done(count);
  if (absl::Status f = (*writer)->Finish(); !f.ok()) return ReportFatal(kCmd, f);
  auto check = BlockStore::Open(out);
  if (!check.ok()) return ReportFatal(kCmd, check.status());
  std::printf("wrote %lld blocks to %s (%.1f MB)\n", static_cast<long long>(count), out.c_str(),
              (*check)->file_bytes() / 1e6);
  return 0;
}

}  // namespace orqa::cli
