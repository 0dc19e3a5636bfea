// Exact scan kernels: the SIMD level chosen at run time (KernelCpuLevel:
// AVX-512, AVX2, or plain loops), so the binaries run on any x86-64.
#include "common/index/flat_scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/index/flat_scan_kernels.h"
#include "common/infra/cpu_level.h"

namespace orqa {

namespace {

using scan_internal::kBlock;
using scan_internal::Offer;

CpuLevel test_cap = CpuLevel::kAmx;

CpuLevel ScanLevel() { return std::min(KernelCpuLevel(), test_cap); }

bool Better(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

inline float Widen(float x) { return x; }
inline float Widen(uint16_t x) {
  uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

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

void ScanFloat32(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                 ScanTopK* tops) {
  const CpuLevel level = ScanLevel();
  InGroups(queries, nq, d, tops, [&](const float* q, int group, ScanTopK* t) {
#if defined(__x86_64__)
    if (level >= CpuLevel::kAvx512) return scan_internal::ScanFloat32Avx512(rows, n, d, q, group, id_base, t);
    if (level >= CpuLevel::kAvx2) return scan_internal::ScanFloat32Avx2(rows, n, d, q, group, id_base, t);
#endif
    ScanPortable(rows, n, d, q, group, id_base, t);
  });
}

void ScanBFloat16(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops) {
  const CpuLevel level = ScanLevel();
  InGroups(queries, nq, d, tops, [&](const float* q, int group, ScanTopK* t) {
#if defined(__x86_64__)
    if (level >= CpuLevel::kAvx512) return scan_internal::ScanBFloat16Avx512(rows, n, d, q, group, id_base, t);
    if (level >= CpuLevel::kAvx2) return scan_internal::ScanBFloat16Avx2(rows, n, d, q, group, id_base, t);
#endif
    ScanPortable(rows, n, d, q, group, id_base, t);
  });
}

void ScanInt8(const int8_t* rows, const float* row_scales, const int32_t* row_sums, int64_t n, int d,
              const float* queries, int nq, int64_t id_base, ScanTopK* tops) {
  const CpuLevel level = ScanLevel();
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

const char* ScanKernelName() {
  const CpuLevel level = ScanLevel();
#if defined(__x86_64__)
  if (level >= CpuLevel::kAvx512Vnni) return "avx512+vnni";
  if (level >= CpuLevel::kAvx512) return "avx512";
  if (level >= CpuLevel::kAvx2) return "avx2";
#endif
  return "portable";
}

}  // namespace orqa
