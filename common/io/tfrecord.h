#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace orqa {

/// Streams the records of a TFRecord file (plain or GZIP-compressed),
/// verifying both masked CRC-32C checksums of every record. Errors name the
/// file, the record index and its byte offset.
class TFRecordReader {
 public:
  static absl::StatusOr<TFRecordReader> Open(const std::string& path);
  TFRecordReader(TFRecordReader&&) noexcept;
  TFRecordReader& operator=(TFRecordReader&&) noexcept;
  ~TFRecordReader();

  /// Reads the next record into `record`; returns false at a clean end of
  /// file, an error for a truncated or corrupt record.
  absl::StatusOr<bool> Next(std::string* record);
  uint64_t records_read() const { return index_; }

 private:
  TFRecordReader() = default;
  void* file_ = nullptr;  // gzFile: zlib reads plain and gzip transparently
  std::string path_;
  uint64_t index_ = 0;
  uint64_t offset_ = 0;
};

/// Parses TFRecord framing over bytes in memory (for fuzzing and tests).
absl::Status ForEachTFRecord(std::string_view data, const std::string& name,
                             const std::function<void(std::string_view)>& fn);

/// One feature of a tf.train.Example.
struct TFFeature {
  enum class Kind { kBytes, kFloat, kInt64 } kind = Kind::kBytes;
  std::vector<std::string> bytes;
  std::vector<float> floats;
  std::vector<int64_t> ints;
};

/// Decodes a serialized tf.train.Example (packed and unpacked lists).
absl::StatusOr<std::map<std::string, TFFeature>> ParseTFExample(std::string_view data);

}  // namespace orqa
