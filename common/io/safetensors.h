#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// The contents of a safetensors file: tensors by name (views into the
/// mapping, zero-copy) and the string metadata.
struct SafetensorsContents {
  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;
};

/// Memory-maps and validates `path`: header length within the file, JSON
/// header, every entry with a known dtype, shape × dtype size = byte length,
/// offsets in bounds and non-overlapping. Errors name the file and the tensor.
absl::StatusOr<SafetensorsContents> ReadSafetensors(const std::string& path);

/// The same over bytes in memory; `name` is used in errors. The views point
/// into `data`, which `owner` keeps alive.
absl::StatusOr<SafetensorsContents> ParseSafetensors(const uint8_t* data, size_t size,
                                                     const std::string& name,
                                                     std::shared_ptr<const void> owner);

/// Writes tensors (sorted by name, contiguous, header padded to 8 bytes)
/// atomically: to a temporary file renamed over `path`.
absl::Status WriteSafetensors(const std::string& path,
                              const std::map<std::string, TensorView>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace orqa
