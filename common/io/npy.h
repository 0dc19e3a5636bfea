#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/io/tensor_view.h"

namespace orqa {

/// The parsed header of a .npy file (format versions 1–3).
struct NpyHeader {
  std::string descr;  // e.g. "<f4", "<f2", "|O"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // first byte of the array body
};

/// The magic, version-1.0 header and padding of a C-order float32 [rows, cols]
/// .npy; the raw little-endian floats follow it.
std::string NpyFloat32Header(int64_t rows, int64_t cols);

/// Parses the magic, version and the Python-literal header dict. Errors name
/// `name` and what was wrong (unsupported version, malformed dict, ...).
absl::StatusOr<NpyHeader> ParseNpyHeader(const uint8_t* data, size_t size, const std::string& name);

/// A numeric array (little-endian or byte-order-free f2/f4/f8/i1..i8/u1/b1) in
/// C order: zero-copy from the mapping when C-ordered, transposed into a
/// buffer when `fortran_order` is True.
absl::StatusOr<TensorView> ReadNpyArray(const std::string& path);
absl::StatusOr<TensorView> ParseNpyArray(std::shared_ptr<const void> owner, const uint8_t* data,
                                         size_t size, const std::string& name);

/// Streams the elements of a 1-D object array of `bytes` (what Hugging Face's
/// block_records.npy is) without a general pickle machine: only the opcodes
/// numpy writes for such an array are accepted; anything else is an error
/// naming the opcode and its offset. A repeated element (a memo reference,
/// BINGET / LONG_BINGET) is seen again; a `str` element is seen as its UTF-8.
/// `fn(index, bytes)` sees each element in order.
absl::Status ForEachNpyBytes(const std::string& path,
                             const std::function<void(int64_t, std::string_view)>& fn);
absl::Status ParseNpyBytes(const uint8_t* data, size_t size, const std::string& name,
                           const std::function<void(int64_t, std::string_view)>& fn);

}  // namespace orqa
