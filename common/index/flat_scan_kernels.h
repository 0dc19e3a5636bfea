#pragma once

// The SIMD kernels behind flat_scan.h, one file per instruction-set level
// (flat_scan_avx2.cc, flat_scan_avx512.cc), each compiled for its level per
// function so one binary runs on any x86-64; flat_scan.cc picks one at run
// time (KernelCpuLevel) and holds the portable loops. Internal to orqa_index_core.
//
// Every level scores a row the same, bit for bit: the fp32 / bf16 kernels keep
// sixteen fp32 partial sums per row (element j goes to lane j mod 16, one
// fused multiply-add each) and add them in one fixed tree (ReduceSixteen's
// order); the int8 kernels sum exact int32 products of the codes. So a fleet
// of mixed CPUs returns the same results.

#include <cstdint>
#include <cstring>

#include "common/index/flat_scan.h"

namespace orqa::scan_internal {

/// Rows per block: scored for every query of the group while in L1, then
/// compared with each query's threshold.
inline constexpr int kBlock = 16;

/// Offers one block's scores to a query's list: only those above its threshold.
inline void Offer(const float* s, int count, int64_t first_id, ScanTopK* top) {
  for (int j = 0; j < count; ++j) {
    if (s[j] > top->threshold()) top->Push(s[j], first_id + j);
  }
}

/// A bf16 value (its bit pattern) widened exactly to fp32.
inline float Bf16ToFloat(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// The int8 score of a row from its exact code product: dot · (row scale · question scale).
inline float Int8Score(int32_t dot, float row_scale, float q_scale) {
  return static_cast<float>(dot) * (row_scale * q_scale);
}

/// The questions of one int8 pass, quantised once (QuantizeQueryInt8).
struct Int8Queries {
  const int8_t* codes;  // [nq, d]
  const float* scales;  // [nq]
  int nq;
};

// nq ≤ kMaxScanQueries in each; fp32 or bf16 rows.
void ScanRowsAvx512(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                    ScanTopK* tops);
void ScanRowsAvx512(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                    ScanTopK* tops);
void ScanRowsAvx2(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops);
void ScanRowsAvx2(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops);
void ScanInt8Vnni(const int8_t* rows, const float* row_scales, const int32_t* row_sums, int64_t n, int d,
                  const Int8Queries& q, int64_t id_base, ScanTopK* tops);
void ScanInt8Avx2(const int8_t* rows, const float* row_scales, int64_t n, int d, const Int8Queries& q,
                  int64_t id_base, ScanTopK* tops);

}  // namespace orqa::scan_internal
