#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// Reads a zip archive's central directory (as written by torch.save);
/// stored entries are served zero-copy from the mapping, deflated ones are
/// inflated into a buffer.
class ZipReader {
 public:
  static absl::StatusOr<ZipReader> Open(const std::string& path);
  static absl::StatusOr<ZipReader> FromMemory(std::shared_ptr<const void> owner, const uint8_t* data,
                                              size_t size, const std::string& name);

  /// Entry bytes; errors name the archive and entry.
  absl::StatusOr<TensorView> Read(const std::string& entry) const;
  const std::string& name() const { return name_; }
  std::vector<std::string> EntryNames() const;

 private:
  struct Entry {
    uint16_t method;
    uint64_t compressed_size;
    uint64_t size;
    uint64_t local_header_offset;
  };
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string name_;
  std::map<std::string, Entry> entries_;
};

/// True if the file starts with a zip local-file signature.
bool IsZipFile(const std::string& path);

}  // namespace orqa
