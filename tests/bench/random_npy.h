#pragma once
// Random block embeddings for benchmarks: rows × dim standard-normal float32
// values written as .npy chunk by chunk (13.35M rows never sit in memory), to
// a temporary file renamed into place.

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/io/npy.h"

namespace orqa::bench {

/// False (and no file at `path`) if writing failed.
inline bool WriteRandomNpy(const std::string& path, int64_t rows, int dim, uint64_t seed) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return false;
  const std::string header = NpyFloat32Header(rows, dim);
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> chunk(static_cast<size_t>(1 << 16) * dim);
  for (int64_t r = 0; r < rows && ok; r += 1 << 16) {
    const int64_t n = std::min<int64_t>(1 << 16, rows - r);
    for (int64_t i = 0; i < n * dim; ++i) chunk[i] = normal(rng);
    ok = std::fwrite(chunk.data(), sizeof(float), n * dim, f) == static_cast<size_t>(n * dim);
  }
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace orqa::bench
