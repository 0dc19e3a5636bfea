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

/// Builds the block store `out` from `from` in `format` (or "auto": by name).
/// Returns the number of blocks; `progress` sees the count so far. Errors
/// name the file and, for JSON lines, the line.
absl::StatusOr<int64_t> ImportBlocks(const std::string& from, const std::string& format, const std::string& out,
                                     const std::function<void(int64_t)>& progress = nullptr);

}  // namespace orqa
