#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// One tensor's record in a TensorFlow checkpoint index (BundleEntryProto).
struct TFBundleEntry {
  std::string name;
  int dtype = 0;  // tensorflow.DataType enum value
  std::vector<int64_t> shape;
  int32_t shard_id = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t crc32c = 0;  // masked, as stored
};

/// The checkpoint prefix `path` names, resolved as TensorFlow does: `PREFIX`
/// (with `PREFIX.index` beside it), `PREFIX.index` itself, or a directory whose
/// `checkpoint` file names the latest prefix (tf.train.latest_checkpoint),
/// relative to the directory. A named prefix that does not exist — the
/// absolute path of the machine that wrote it, as in the released
/// `encoded/checkpoint` — falls back to the prefix of that name in the
/// directory. Not a checkpoint (no `.index`, not such a directory): empty
/// string. A directory whose `checkpoint` file is missing, unreadable or names
/// nothing that exists: NotFound naming the directory and what it lacks.
absl::StatusOr<std::string> ResolveTFCheckpoint(const std::string& path);

/// "DT_FLOAT", "DT_INT64", ... for a tensorflow.DataType value.
std::string TFDataTypeName(int dtype);

/// Reads a TensorFlow tensor-bundle checkpoint (`PREFIX.index` — a LevelDB
/// table of BundleEntryProto — plus `PREFIX.data-NNNNN-of-NNNNN` shards)
/// without TensorFlow. Table block checksums are verified when opening and
/// each tensor's checksum when it is read. Only uncompressed tables are
/// supported (what TensorFlow writes).
class TFBundleReader {
 public:
  /// `prefix` is the checkpoint path without ".index".
  static absl::StatusOr<TFBundleReader> Open(const std::string& prefix);

  int32_t num_shards() const { return num_shards_; }
  int32_t endianness() const { return endianness_; }
  int32_t version_producer() const { return producer_; }
  /// Entries in key (name) order.
  const std::vector<TFBundleEntry>& entries() const { return entries_; }
  const TFBundleEntry* Find(const std::string& name) const;

  /// A numeric tensor's bytes (zero-copy from the shard mapping), checksum verified.
  absl::StatusOr<TensorView> Read(const std::string& name) const;
  /// A DT_STRING tensor's elements, checksum verified.
  absl::StatusOr<std::vector<std::string>> ReadStrings(const std::string& name) const;

 private:
  absl::StatusOr<std::pair<const uint8_t*, std::shared_ptr<const void>>> ShardBytes(
      const TFBundleEntry& e) const;

  std::string prefix_;
  int32_t num_shards_ = 1, endianness_ = 0, producer_ = 0;
  std::vector<TFBundleEntry> entries_;
  mutable std::map<int32_t, std::shared_ptr<MappedFile>> shards_;
};

/// Writes a TensorFlow tensor-bundle checkpoint that TensorFlow and
/// TFBundleReader read: one data shard, `PREFIX.data-00000-of-00001`, holding
/// the tensors' bytes in the order they are added (streamed: a mapped tensor is
/// never copied whole), and `PREFIX.index`, a LevelDB table of the entries in
/// name order written by Finish(). Both go to `.tmp` files renamed at Finish(),
/// so a failed write leaves no half checkpoint under the prefix.
class TFBundleWriter {
 public:
  static absl::StatusOr<std::unique_ptr<TFBundleWriter>> Create(const std::string& prefix);
  ~TFBundleWriter();
  TFBundleWriter(const TFBundleWriter&) = delete;
  TFBundleWriter& operator=(const TFBundleWriter&) = delete;

  /// A numeric tensor. Names must be unique and non-empty.
  absl::Status Add(const std::string& name, const TensorView& tensor);
  /// A DT_STRING tensor of `shape` (row-major `values`).
  absl::Status AddStrings(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<std::string>& values);
  /// Writes the index and renames both files into place.
  absl::Status Finish();

 private:
  TFBundleWriter() = default;
  absl::Status Append(const void* data, size_t size);
  absl::Status CheckName(const std::string& name) const;

  std::string prefix_, data_tmp_, data_path_;
  std::FILE* data_ = nullptr;
  uint64_t offset_ = 0;
  bool failed_ = false;
  std::map<std::string, TFBundleEntry> entries_;
};

/// The tensorflow.DataType value of an orqa dtype (DT_FLOAT = 1, ...).
int TFDataTypeOf(DType dtype);

/// Parses an index table in memory (for fuzzing): header and entries.
absl::Status ParseTFBundleIndex(const uint8_t* data, size_t size, const std::string& name,
                                std::vector<TFBundleEntry>* entries, int32_t* num_shards,
                                int32_t* endianness, int32_t* producer);

}  // namespace orqa
