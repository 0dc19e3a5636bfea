#pragma once

#include <cstdint>
#include <cstring>

#include "common/io/tensor_view.h"

namespace orqa {

/// Element `i` of `view` as T, copied: data inside a file (safetensors, TF
/// bundles, .npy) need not be aligned for T, so tests never dereference it as
/// a T* (UBSan reports the misaligned load).
template <typename T>
T ElementAt(const TensorView& view, int64_t i) {
  T value;
  std::memcpy(&value, view.data + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

}  // namespace orqa
