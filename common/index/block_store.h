#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// The corpus blocks (title, text) in one memory-mapped file.
///
/// Layout (little-endian):
///   header   64 bytes: magic "ORQABLK1", u64 num_blocks, u64 offsets_offset,
///            u64 data_offset, u64 data_bytes, u32 crc32c of the offsets table,
///            u32 crc32c of bytes 0..43, padding
///   data     for block i: title bytes then text bytes
///   offsets  2·num_blocks + 1 u64: title_begin[i] = off[2i], text_begin[i] =
///            off[2i+1], block end = off[2i+2] (relative to data_offset)
/// Opening reads the header and checks sizes only, so 13.35M blocks open in
/// milliseconds and cost no memory until read; each access is bounds-checked.
class BlockStore {
 public:
  /// Errors name the file and what is wrong (magic, truncation, bad offsets).
  static absl::StatusOr<std::shared_ptr<BlockStore>> Open(const std::string& path);

  int64_t size() const { return num_blocks_; }
  /// Title and text of block `id` (views into the mapping). OUT_OF_RANGE for a bad id.
  absl::StatusOr<std::string_view> Title(int64_t id) const;
  absl::StatusOr<std::string_view> Text(int64_t id) const;
  const std::string& path() const { return file_->path(); }
  uint64_t file_bytes() const { return file_->size(); }

  /// Verifies the offsets-table checksum and monotonic offsets (reads the
  /// whole table; `orqa check` and tests use it, serving does not).
  absl::Status VerifyAll() const;

 private:
  absl::StatusOr<std::pair<uint64_t, uint64_t>> Range(int64_t id, int part) const;

  std::shared_ptr<MappedFile> file_;
  int64_t num_blocks_ = 0;
  const uint8_t* offsets_ = nullptr;
  const uint8_t* data_ = nullptr;
  uint64_t data_bytes_ = 0;
  uint32_t offsets_crc_ = 0;
};

/// Streams blocks into a new block store; Finish() writes the offsets table
/// and header and renames the temporary file into place, so a crash never
/// leaves a half-written store at `path`.
class BlockStoreWriter {
 public:
  static absl::StatusOr<std::unique_ptr<BlockStoreWriter>> Create(const std::string& path);
  ~BlockStoreWriter();
  absl::Status Add(std::string_view title, std::string_view text);
  absl::Status Finish();
  int64_t count() const { return static_cast<int64_t>(offsets_.size() / 2); }

 private:
  BlockStoreWriter() = default;
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  std::vector<uint64_t> offsets_;
};

}  // namespace orqa
