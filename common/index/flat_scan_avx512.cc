// The AVX-512 scan kernels (F/BW/VL; VNNI for int8). See flat_scan_kernels.h.
#include <algorithm>
#include <vector>

#include "common/index/flat_scan_kernels.h"

#if defined(__x86_64__)
// GCC 12 reports the intrinsics' deliberately undefined vectors
// (_mm512_undefined_* inside the unmasked shuffles and reductions) as
// uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "common/infra/avx512.h"

namespace orqa::scan_internal {

namespace {

// Sums each of 16 accumulators into one lane: out[i] = sum of v[i]'s lanes.
// A tree of lane shuffles and adds (45 instructions for 16 rows, where one
// horizontal reduction per row takes 8). Per row: ((G0 + G1) + (G2 + G3)),
// Gg = (l[4g] + l[4g+2]) + (l[4g+1] + l[4g+3]) — the order the AVX2 kernel
// reproduces, and the same whichever slot the row occupies, so a row scores
// bit for bit the same alone (re-ranking) as inside a block.
ORQA_AVX512 inline __m512 ReduceSixteen(const __m512* v) {
  __m512 a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i) {
    a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d x = _mm512_castps_pd(a[2 * i]), y = _mm512_castps_pd(a[2 * i + 1]);
    b[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // b[i], 128-bit lane L: lane L's sums of rows 4i..4i+3; add the four lanes.
  for (int i = 0; i < 2; ++i) {
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xDD));
  }
  return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
}

// Scores rows [0, count) of a block (count ≤ 16) against one query: one
// accumulator per row over the d / 16 full chunks and the masked tail, then
// one tree reduction for all 16 (rows past `count` stay zero).
template <typename Row>
ORQA_AVX512 void ScoreBlock(const Row* block, int count, int d, const float* qv, float* s) {
  const int full = d / 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (d % 16)) - 1);
  __m512 acc[kBlock];
  for (int r = 0; r < kBlock; ++r) acc[r] = _mm512_setzero_ps();
  int r = 0;
  for (; r + 4 <= count; r += 4) {
    const Row* r0 = block + static_cast<int64_t>(r) * d;
    __m512 a0 = acc[r], a1 = acc[r + 1], a2 = acc[r + 2], a3 = acc[r + 3];
    for (int c = 0; c < full; ++c) {
      const __m512 qc = _mm512_loadu_ps(qv + c * 16);
      a0 = _mm512_fmadd_ps(Load16(r0 + c * 16, 0xFFFF), qc, a0);
      a1 = _mm512_fmadd_ps(Load16(r0 + d + c * 16, 0xFFFF), qc, a1);
      a2 = _mm512_fmadd_ps(Load16(r0 + 2 * d + c * 16, 0xFFFF), qc, a2);
      a3 = _mm512_fmadd_ps(Load16(r0 + 3 * d + c * 16, 0xFFFF), qc, a3);
    }
    if (tail) {
      const __m512 qc = _mm512_maskz_loadu_ps(tail, qv + full * 16);
      a0 = _mm512_fmadd_ps(Load16(r0 + full * 16, tail), qc, a0);
      a1 = _mm512_fmadd_ps(Load16(r0 + d + full * 16, tail), qc, a1);
      a2 = _mm512_fmadd_ps(Load16(r0 + 2 * d + full * 16, tail), qc, a2);
      a3 = _mm512_fmadd_ps(Load16(r0 + 3 * d + full * 16, tail), qc, a3);
    }
    acc[r] = a0, acc[r + 1] = a1, acc[r + 2] = a2, acc[r + 3] = a3;
  }
  for (; r < count; ++r) {
    const Row* row = block + static_cast<int64_t>(r) * d;
    __m512 a = acc[r];
    for (int c = 0; c < full; ++c) a = _mm512_fmadd_ps(Load16(row + c * 16, 0xFFFF), _mm512_loadu_ps(qv + c * 16), a);
    if (tail) a = _mm512_fmadd_ps(Load16(row + full * 16, tail), _mm512_maskz_loadu_ps(tail, qv + full * 16), a);
    acc[r] = a;
  }
  _mm512_store_ps(s, ReduceSixteen(acc));
}

// Offers the lanes of `s` in `above` (a block's scores over a query's threshold).
inline void OfferMask(const float* s, __mmask16 above, int64_t first_id, ScanTopK* top) {
  while (above) {
    const int j = __builtin_ctz(above);
    above &= static_cast<__mmask16>(above - 1);
    if (s[j] > top->threshold()) top->Push(s[j], first_id + j);
  }
}

template <typename Row>
ORQA_AVX512 void ScanRows(const Row* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                          ScanTopK* tops) {
  alignas(64) float s[kBlock];
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    const Row* block = rows + i * d;
    for (int q = 0; q < nq; ++q) {
      ScoreBlock(block, kBlock, d, queries + static_cast<int64_t>(q) * d, s);
      OfferMask(s, _mm512_cmp_ps_mask(_mm512_load_ps(s), _mm512_set1_ps(tops[q].threshold()), _CMP_GT_OQ),
                id_base + i, &tops[q]);
    }
  }
  if (i < n) {
    const int count = static_cast<int>(n - i);
    for (int q = 0; q < nq; ++q) {
      ScoreBlock(rows + i * d, count, d, queries + static_cast<int64_t>(q) * d, s);
      Offer(s, count, id_base + i, &tops[q]);
    }
  }
}

// int8 rows against a question quantised to int8, the products summed exactly
// in int32 by AVX-512 VNNI (vpdpbusd: 64 byte products per instruction).
// vpdpbusd multiplies unsigned by signed bytes, so the question enters as
// q + 128 and 128 · (the row's code sum) is taken off.
#define ORQA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

ORQA_VNNI inline __m512i ReduceSixteenInt(const __m512i* v) {
  __m512i a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i) {
    a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {
    b[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * i], a[2 * i + 1]),
                            _mm512_unpackhi_epi64(a[2 * i], a[2 * i + 1]));
  }
  for (int i = 0; i < 2; ++i) {
    c[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2 * i], b[2 * i + 1], 0x88),
                            _mm512_shuffle_i32x4(b[2 * i], b[2 * i + 1], 0xDD));
  }
  return _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], 0x88), _mm512_shuffle_i32x4(c[0], c[1], 0xDD));
}

// Integer dot products of rows [0, count) of a block with the offset question
// `qu` (d bytes, then zeros up to a multiple of 64).
ORQA_VNNI __m512i DotBlockVnni(const int8_t* block, int count, int d, const uint8_t* qu) {
  const int full = d / 64;
  const __mmask64 tail = d % 64 ? (~uint64_t{0} >> (64 - d % 64)) : 0;
  __m512i acc[kBlock];
  for (int r = 0; r < kBlock; ++r) acc[r] = _mm512_setzero_si512();
  int r = 0;
  for (; r + 4 <= count; r += 4) {
    const int8_t* r0 = block + static_cast<int64_t>(r) * d;
    __m512i a0 = acc[r], a1 = acc[r + 1], a2 = acc[r + 2], a3 = acc[r + 3];
    for (int c = 0; c < full; ++c) {
      const __m512i qc = _mm512_loadu_si512(qu + c * 64);
      a0 = _mm512_dpbusd_epi32(a0, qc, _mm512_loadu_si512(r0 + c * 64));
      a1 = _mm512_dpbusd_epi32(a1, qc, _mm512_loadu_si512(r0 + d + c * 64));
      a2 = _mm512_dpbusd_epi32(a2, qc, _mm512_loadu_si512(r0 + 2 * d + c * 64));
      a3 = _mm512_dpbusd_epi32(a3, qc, _mm512_loadu_si512(r0 + 3 * d + c * 64));
    }
    if (tail) {
      const __m512i qc = _mm512_loadu_si512(qu + full * 64);
      a0 = _mm512_dpbusd_epi32(a0, qc, _mm512_maskz_loadu_epi8(tail, r0 + full * 64));
      a1 = _mm512_dpbusd_epi32(a1, qc, _mm512_maskz_loadu_epi8(tail, r0 + d + full * 64));
      a2 = _mm512_dpbusd_epi32(a2, qc, _mm512_maskz_loadu_epi8(tail, r0 + 2 * d + full * 64));
      a3 = _mm512_dpbusd_epi32(a3, qc, _mm512_maskz_loadu_epi8(tail, r0 + 3 * d + full * 64));
    }
    acc[r] = a0, acc[r + 1] = a1, acc[r + 2] = a2, acc[r + 3] = a3;
  }
  for (; r < count; ++r) {
    const int8_t* row = block + static_cast<int64_t>(r) * d;
    __m512i a = acc[r];
    for (int c = 0; c < full; ++c) a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(qu + c * 64), _mm512_loadu_si512(row + c * 64));
    if (tail) a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(qu + full * 64), _mm512_maskz_loadu_epi8(tail, row + full * 64));
    acc[r] = a;
  }
  return ReduceSixteenInt(acc);
}

}  // namespace

void ScanRowsAvx512(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                    ScanTopK* tops) {
  ScanRows(rows, n, d, queries, nq, id_base, tops);
}
void ScanRowsAvx512(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                    ScanTopK* tops) {
  ScanRows(rows, n, d, queries, nq, id_base, tops);
}

ORQA_VNNI void ScanInt8Vnni(const int8_t* rows, const float* row_scales, const int32_t* row_sums, int64_t n, int d,
                            const Int8Queries& q, int64_t id_base, ScanTopK* tops) {
  const int padded = (d + 63) / 64 * 64;
  std::vector<uint8_t> qu(static_cast<size_t>(q.nq) * padded, 0);
  for (int i = 0; i < q.nq; ++i) {
    for (int j = 0; j < d; ++j) {
      qu[static_cast<size_t>(i) * padded + j] = static_cast<uint8_t>(q.codes[static_cast<int64_t>(i) * d + j] + 128);
    }
  }
  alignas(64) float s[kBlock];
  const __m512i k128 = _mm512_set1_epi32(128);
  for (int64_t i = 0; i < n; i += kBlock) {
    const int count = static_cast<int>(std::min<int64_t>(kBlock, n - i));
    const __mmask16 valid = TailMask16(count);  // kBlock = 16 lanes
    const __m512i sums = _mm512_maskz_loadu_epi32(valid, row_sums + i);
    const __m512 scales = _mm512_maskz_loadu_ps(valid, row_scales + i);
    const int8_t* block = rows + i * d;
    for (int j = 0; j < q.nq; ++j) {
      const __m512i dots = _mm512_sub_epi32(DotBlockVnni(block, count, d, qu.data() + static_cast<size_t>(j) * padded),
                                            _mm512_mullo_epi32(sums, k128));
      // Int8Score's arithmetic, 16 rows at once.
      _mm512_store_ps(s, _mm512_mul_ps(_mm512_cvtepi32_ps(dots), _mm512_mul_ps(scales, _mm512_set1_ps(q.scales[j]))));
      OfferMask(s, valid & _mm512_cmp_ps_mask(_mm512_load_ps(s), _mm512_set1_ps(tops[j].threshold()), _CMP_GT_OQ),
                id_base + i, &tops[j]);
    }
  }
}

}  // namespace orqa::scan_internal
#endif
