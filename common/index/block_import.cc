#include "common/index/block_import.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/index/block_store.h"
#include "common/io/npy.h"
#include "common/io/tfrecord.h"
#include "common/text/utf8.h"

namespace orqa {
namespace {

// Adds a block, repairing bytes that are not UTF-8.
absl::Status Add(BlockStoreWriter& w, std::string_view title, std::string_view text, BlockImport* stats) {
  if (IsValidUtf8(text) && IsValidUtf8(title)) return w.Add(title, text);
  if (stats->repaired_utf8++ == 0) stats->first_repaired = w.count();
  return w.Add(RepairUtf8(title), RepairUtf8(text));
}

absl::Status FromJsonl(const std::string& path, BlockStoreWriter& w, const std::function<void(int64_t)>& progress,
                       BlockImport* stats) {
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
    if (absl::Status st = Add(w, j.value("title", std::string()), j["text"].get<std::string>(), stats); !st.ok()) {
      return st;
    }
    ++n;
    if (progress) progress(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string BlockSourceFormat(const std::string& p) {
  if (absl::EndsWith(p, ".jsonl") || absl::EndsWith(p, ".json")) return "jsonl";
  if (absl::EndsWith(p, ".npy")) return "npy";
  if (absl::EndsWith(p, ".tfr") || absl::EndsWith(p, ".tfrecord") || absl::EndsWith(p, ".tfrecords") ||
      absl::EndsWith(p, ".gz")) {
    return "tfrecord";
  }
  return "";
}

std::string DescribeRepairs(const BlockImport& import) {
  if (import.repaired_utf8 == 0) return "";
  return absl::StrCat("; ", import.repaired_utf8, import.repaired_utf8 == 1 ? " block holds" : " blocks hold",
                      " bytes that are not UTF-8 (the first: block ", import.first_repaired,
                      "), stored with U+FFFD in their place");
}

absl::StatusOr<BlockImport> ImportBlocks(const std::string& from, const std::string& format_in, const std::string& out,
                                         const std::function<void(int64_t)>& progress) {
  const std::string format = format_in == "auto" ? BlockSourceFormat(from) : format_in;
  if (format.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(from, ": cannot tell the format from the name; pass --format"));
  }
  if (format != "jsonl" && format != "npy" && format != "tfrecord") {
    return absl::InvalidArgumentError(absl::StrCat("format '", format, "': expected auto, jsonl, tfrecord or npy"));
  }
  auto writer = BlockStoreWriter::Create(out);
  if (!writer.ok()) return writer.status();
  absl::Status st;
  BlockImport stats;
  if (format == "jsonl") {
    st = FromJsonl(from, **writer, progress, &stats);
  } else if (format == "npy") {
    absl::Status add;
    st = ForEachNpyBytes(from, [&](int64_t i, std::string_view text) {
      if (add.ok()) add = Add(**writer, "", text, &stats);
      if (progress) progress(i + 1);
    });
    if (st.ok()) st = add;
  } else {
    auto reader = TFRecordReader::Open(from);
    if (!reader.ok()) return reader.status();
    std::string record;
    while (st.ok()) {
      auto more = reader->Next(&record);
      if (!more.ok()) {
        st = more.status();
        break;
      }
      if (!*more) break;
      st = Add(**writer, "", record, &stats);
      if (progress) progress(reader->records_read());
    }
  }
  if (!st.ok()) return st;
  stats.blocks = (*writer)->count();
  if (absl::Status f = (*writer)->Finish(); !f.ok()) return f;
  return stats;
}

}  // namespace orqa
