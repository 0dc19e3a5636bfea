#pragma once

#include <cstddef>
#include <cstdint>

namespace orqa {

/// CRC-32C (Castagnoli), as TFRecord, LevelDB tables and TF bundles use.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

/// TensorFlow's masked form: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

}  // namespace orqa
