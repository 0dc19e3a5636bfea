#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace orqa {

/// Element types orqa's checkpoint readers understand.
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

/// Bytes per element.
size_t DTypeSize(DType dtype);
/// safetensors spelling ("F32", "I64", "BOOL", ...).
const char* DTypeName(DType dtype);
/// Parses a safetensors dtype name; false if unknown.
bool ParseDTypeName(const std::string& name, DType* dtype);

/// A read-only view of one tensor's little-endian bytes, row-major. `owner`
/// keeps the bytes alive (a memory mapping or a buffer).
struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::shared_ptr<const void> owner;

  int64_t numel() const;
};

/// Finishes a file written to `tmp`: flush, fsync, close, rename onto `path`
/// (so readers never see a half-written file). Removes `tmp` on failure; the
/// error names `path` and the OS reason.
absl::Status CommitFile(std::FILE* f, const std::string& tmp, const std::string& path, bool write_ok = true);

/// Asks the kernel to reclaim the pages under `view` (MADV_PAGEOUT: clean
/// file-mapped pages are dropped and re-read on demand; other memory is kept).
void ReleasePages(const TensorView& view);

/// A read-only memory mapping of a whole file.
class MappedFile {
 public:
  /// Errors name the path and the OS reason.
  static std::shared_ptr<MappedFile> Open(const std::string& path, std::string* error);
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace orqa
