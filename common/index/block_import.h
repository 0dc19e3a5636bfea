#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace orqa {

/// The formats a block store is built from, told from the file name: "jsonl"
/// (.jsonl / .json: {"id","title","text"} per line), "tfrecord" (.tfr,
/// .tfrecord(s), .gz: ORQA's blocks.tfr of raw block strings) or "npy" (.npy:
/// Hugging Face's block_records.npy); "" when the name says nothing.
std::string BlockSourceFormat(const std::string& path);

struct BlockImport {
  int64_t blocks = 0;
  /// Blocks whose bytes were not well-formed UTF-8 (a record cut mid-character):
  /// stored with each bad byte replaced by U+FFFD, as every answer carrying
  /// the block must be valid UTF-8 on the wire.
  int64_t repaired_utf8 = 0;
  int64_t first_repaired = -1;  // its id
};

/// Builds the block store `out` from `from` in `format` (or "auto": by name).
/// `progress` sees the count so far. Errors name the file and, for JSON
/// lines, the line.
absl::StatusOr<BlockImport> ImportBlocks(const std::string& from, const std::string& format, const std::string& out,
                                         const std::function<void(int64_t)>& progress = nullptr);

/// "; 3 blocks held bytes that are not UTF-8 (the first: block 17), stored
/// with U+FFFD in their place", or "" when none did.
std::string DescribeRepairs(const BlockImport& import);

}  // namespace orqa
