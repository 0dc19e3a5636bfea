// Exact scan kernels: the SIMD level chosen at run time (KernelCpuLevel:
// AVX-512, AVX2, or plain loops), so the binaries run on any x86-64.
#include "common/index/flat_scan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/index/flat_scan_kernels.h"
#include "common/infra/cpu_level.h"

namespace orqa {

namespace {

using scan_internal::kBlock;
using scan_internal::Offer;

CpuLevel test_cap = CpuLevel::kAmx;  // kAmx: none (the calibrated choice)

enum class Codec { kFloat32, kBFloat16, kInt8 };

bool Better(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

inline float Widen(float x) { return x; }
inline float Widen(uint16_t x) { return scan_internal::Bf16ToFloat(x); }

template <typename Row>
void ScanPortable(const Row* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base, ScanTopK* tops) {
  float s[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int count = static_cast<int>(std::min<int64_t>(kBlock, n - i));
    for (int q = 0; q < nq; ++q) {
      const float* qv = queries + static_cast<int64_t>(q) * d;
      for (int r = 0; r < count; ++r) {
        const Row* row = rows + (i + r) * d;
        float acc = 0;
        for (int j = 0; j < d; ++j) acc += Widen(row[j]) * qv[j];
        s[r] = acc;
      }
      Offer(s, count, id_base + i, &tops[q]);
    }
  }
}

void ScanInt8Portable(const int8_t* rows, const float* row_scales, int64_t n, int d,
                      const scan_internal::Int8Queries& q, int64_t id_base, ScanTopK* tops) {
  float s[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int count = static_cast<int>(std::min<int64_t>(kBlock, n - i));
    for (int j = 0; j < q.nq; ++j) {
      const int8_t* qv = q.codes + static_cast<int64_t>(j) * d;
      for (int r = 0; r < count; ++r) {
        const int8_t* row = rows + (i + r) * d;
        int32_t dot = 0;
        for (int k = 0; k < d; ++k) dot += int32_t{row[k]} * qv[k];
        s[r] = scan_internal::Int8Score(dot, row_scales[i + r], q.scales[j]);
      }
      Offer(s, count, id_base + i, &tops[j]);
    }
  }
}

// Runs `kernel(queries, group, tops)` over groups of at most kMaxScanQueries.
template <typename F>
void InGroups(const float* queries, int nq, int d, ScanTopK* tops, F&& kernel) {
  for (int g = 0; g < nq; g += kMaxScanQueries) {
    kernel(queries + static_cast<int64_t>(g) * d, std::min(kMaxScanQueries, nq - g), tops + g);
  }
}

}  // namespace

ScanTopK::ScanTopK(int k) : k_(k), threshold_(-std::numeric_limits<float>::infinity()) {
  heap_.reserve(static_cast<size_t>(std::max(k, 0)));
}

void ScanTopK::Push(float score, int64_t id) {
  if (k_ <= 0) return;
  if (static_cast<int>(heap_.size()) < k_) {
    heap_.emplace_back(score, id);
    std::push_heap(heap_.begin(), heap_.end(), Better);
  } else {
    std::pop_heap(heap_.begin(), heap_.end(), Better);
    heap_.back() = {score, id};
    std::push_heap(heap_.begin(), heap_.end(), Better);
  }
  if (static_cast<int>(heap_.size()) == k_) threshold_ = heap_.front().first;
}

ScoredIds ScanTopK::Sorted() const {
  std::vector<std::pair<float, int64_t>> v = heap_;
  std::sort(v.begin(), v.end(), Better);
  ScoredIds r;
  for (const auto& [s, id] : v) {
    r.scores.push_back(s);
    r.ids.push_back(id);
  }
  return r;
}

namespace {

// The fp32 / bf16 kernels at `level` (the highest one at or below it that exists).
template <typename Row>
void ScanRowsAt(CpuLevel level, const Row* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                ScanTopK* tops) {
  InGroups(queries, nq, d, tops, [&](const float* q, int group, ScanTopK* t) {
#if defined(__x86_64__)
    if (level >= CpuLevel::kAvx512) return scan_internal::ScanRowsAvx512(rows, n, d, q, group, id_base, t);
    if (level >= CpuLevel::kAvx2) return scan_internal::ScanRowsAvx2(rows, n, d, q, group, id_base, t);
#endif
    ScanPortable(rows, n, d, q, group, id_base, t);
  });
}

void ScanInt8At(CpuLevel level, const int8_t* rows, const float* row_scales, const int32_t* row_sums, int64_t n,
                int d, const float* queries, int nq, int64_t id_base, ScanTopK* tops) {
  std::vector<int8_t> codes(static_cast<size_t>(std::min(nq, kMaxScanQueries)) * d);
  std::vector<float> scales(kMaxScanQueries);
  InGroups(queries, nq, d, tops, [&](const float* q, int group, ScanTopK* t) {
    for (int i = 0; i < group; ++i) {
      QuantizeQueryInt8(q + static_cast<int64_t>(i) * d, d, codes.data() + static_cast<int64_t>(i) * d, &scales[i]);
    }
    const scan_internal::Int8Queries quantized{codes.data(), scales.data(), group};
#if defined(__x86_64__)
    if (level >= CpuLevel::kAvx512Vnni) {
      return scan_internal::ScanInt8Vnni(rows, row_scales, row_sums, n, d, quantized, id_base, t);
    }
    if (level >= CpuLevel::kAvx2) return scan_internal::ScanInt8Avx2(rows, row_scales, n, d, quantized, id_base, t);
#endif
    ScanInt8Portable(rows, row_scales, n, d, quantized, id_base, t);
  });
}

// The level of the widest kernel for `codec` at `level`: int8 has no AVX-512 kernel without VNNI.
CpuLevel WidestKernel(Codec codec, CpuLevel level) {
  if (codec == Codec::kInt8 && level == CpuLevel::kAvx512) return CpuLevel::kAvx2;
  return std::min(level, codec == Codec::kInt8 ? CpuLevel::kAvx512Vnni : CpuLevel::kAvx512);
}

// Microseconds of the fastest of 3 scans of 64 MB of 128-d rows at `level`
// for each of `levels`, taken in turns: more than the caches hold, so the
// kernels are timed as they run on a corpus, streaming from memory. The
// rows are 1,024 random ones tiled (their values do not change the time).
std::vector<double> TimeKernels(Codec codec, const std::vector<CpuLevel>& levels) {
  constexpr int kDim = 128, kTile = 1024;
  constexpr int64_t kBytes = int64_t{64} << 20;
  const int64_t element = codec == Codec::kFloat32 ? 4 : codec == Codec::kBFloat16 ? 2 : 1;
  const int64_t rows = kBytes / (element * kDim);
  std::vector<float> tile(static_cast<size_t>(kTile) * kDim), query(kDim);
  uint32_t state = 12345;
  for (float& v : tile) v = static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
  for (int j = 0; j < kDim; ++j) query[j] = tile[j] + 0.25f;
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  std::vector<int8_t> codes;
  std::vector<float> row_scales;
  std::vector<int32_t> row_sums;
  auto tiled = [&](auto& out, const auto* one) {
    out.resize(static_cast<size_t>(rows) * kDim);
    for (int64_t r = 0; r < rows; r += kTile) {
      std::memcpy(&out[static_cast<size_t>(r) * kDim], one, sizeof(out[0]) * std::min<int64_t>(kTile, rows - r) * kDim);
    }
  };
  if (codec == Codec::kFloat32) tiled(f32, tile.data());
  if (codec == Codec::kBFloat16) {
    std::vector<uint16_t> one(tile.size());
    ToBFloat16(tile.data(), static_cast<int64_t>(tile.size()), one.data());
    tiled(bf16, one.data());
  }
  if (codec == Codec::kInt8) {
    std::vector<int8_t> one(tile.size());
    std::vector<float> s(kTile);
    std::vector<int32_t> sums(kTile);
    QuantizeRowsInt8(tile.data(), kTile, kDim, one.data(), s.data(), sums.data());
    tiled(codes, one.data());
    row_scales.assign(static_cast<size_t>(rows), s[0]);
    row_sums.assign(static_cast<size_t>(rows), sums[0]);
  }
  std::vector<double> best(levels.size(), 1e30);
  for (int rep = 0; rep < 3; ++rep) {
    for (size_t l = 0; l < levels.size(); ++l) {
      ScanTopK top(5);
      const auto t0 = std::chrono::steady_clock::now();
      if (codec == Codec::kFloat32) ScanRowsAt(levels[l], f32.data(), rows, kDim, query.data(), 1, 0, &top);
      if (codec == Codec::kBFloat16) ScanRowsAt(levels[l], bf16.data(), rows, kDim, query.data(), 1, 0, &top);
      if (codec == Codec::kInt8) {
        ScanInt8At(levels[l], codes.data(), row_scales.data(), row_sums.data(), rows, kDim, query.data(), 1, 0,
                   &top);
      }
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      best[l] = std::min(best[l], us);
    }
  }
  return best;
}

// The kernel level that scans `codec` here. Every level gives the same
// scores (flat_scan_kernels.h), so the choice is speed alone: where the CPU
// has AVX-512, its kernel and the AVX2 one are timed once per process
// (TimeKernels, ~0.1 s) and the AVX2 one is kept when it is more than 10 %
// faster — on AMD Zen 4 (512-bit operations run as two halves) the AVX2
// scans streamed 1M rows in 13.6 / 7.5 / 4.3 ms (fp32 / bf16 / int8, one
// thread) against AVX-512's 18.4 / 9.5 / 8.8 ms.
CpuLevel CalibratedLevel(Codec codec) {
  const CpuLevel widest = WidestKernel(codec, KernelCpuLevel());
  if (widest < CpuLevel::kAvx512) return widest;
  const std::vector<double> us = TimeKernels(codec, {widest, CpuLevel::kAvx2});
  return us[1] < 0.9 * us[0] ? CpuLevel::kAvx2 : widest;
}

// Each codec is timed on its first scan only: a process that scans fp32
// rows alone never times (nor allocates for) the others.
CpuLevel LevelFor(Codec codec) {
  if (test_cap != CpuLevel::kAmx) return WidestKernel(codec, std::min(KernelCpuLevel(), test_cap));
  switch (codec) {
    case Codec::kFloat32: {
      static const CpuLevel level = CalibratedLevel(Codec::kFloat32);
      return level;
    }
    case Codec::kBFloat16: {
      static const CpuLevel level = CalibratedLevel(Codec::kBFloat16);
      return level;
    }
    case Codec::kInt8: break;
  }
  static const CpuLevel level = CalibratedLevel(Codec::kInt8);
  return level;
}

const char* KernelName(Codec codec, CpuLevel level) {
#if defined(__x86_64__)
  if (level >= CpuLevel::kAvx512Vnni && codec == Codec::kInt8) return "avx512+vnni";
  if (level >= CpuLevel::kAvx512) return "avx512";
  if (level >= CpuLevel::kAvx2) return "avx2";
#endif
  return "portable";
}

}  // namespace

void ScanFloat32(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                 ScanTopK* tops) {
  ScanRowsAt(LevelFor(Codec::kFloat32), rows, n, d, queries, nq, id_base, tops);
}

void ScanBFloat16(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops) {
  ScanRowsAt(LevelFor(Codec::kBFloat16), rows, n, d, queries, nq, id_base, tops);
}

void ScanInt8(const int8_t* rows, const float* row_scales, const int32_t* row_sums, int64_t n, int d,
              const float* queries, int nq, int64_t id_base, ScanTopK* tops) {
  ScanInt8At(LevelFor(Codec::kInt8), rows, row_scales, row_sums, n, d, queries, nq, id_base, tops);
}

void QuantizeRowsInt8(const float* in, int64_t n, int d, int8_t* out, float* row_scales, int32_t* row_sums) {
  for (int64_t r = 0; r < n; ++r) {
    QuantizeQueryInt8(in + r * d, d, out + r * d, &row_scales[r]);
    int32_t sum = 0;
    for (int j = 0; j < d; ++j) sum += out[r * d + j];
    row_sums[r] = sum;
  }
}

void QuantizeQueryInt8(const float* x, int d, int8_t* out, float* scale) {
  float max_abs = 0;
  for (int j = 0; j < d; ++j) max_abs = std::max(max_abs, std::fabs(x[j]));
  *scale = max_abs > 0 && std::isfinite(max_abs) ? max_abs / 127.0f : 0.0f;
  for (int j = 0; j < d; ++j) {
    const float v = *scale > 0 && std::isfinite(x[j]) ? std::clamp(x[j] / *scale, -127.0f, 127.0f) : 0.0f;
    out[j] = static_cast<int8_t>(std::lrint(v));
  }
}

void ToBFloat16(const float* in, int64_t count, uint16_t* out) {
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &in[i], sizeof(bits));
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu)) {
      out[i] = static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
      continue;
    }
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    out[i] = static_cast<uint16_t>(bits >> 16);
  }
}

void CapScanLevelForTesting(CpuLevel cap) { test_cap = cap; }

std::string ScanKernelName() {
  const char* f = KernelName(Codec::kFloat32, LevelFor(Codec::kFloat32));
  const char* b = KernelName(Codec::kBFloat16, LevelFor(Codec::kBFloat16));
  const char* i = KernelName(Codec::kInt8, LevelFor(Codec::kInt8));
  if (std::string(f) == b && std::string(b) == i) return f;
  return std::string("fp32 ") + f + ", bf16 " + b + ", int8 " + i;
}

}  // namespace orqa
