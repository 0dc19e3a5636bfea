// The AVX2 + FMA scan kernels (AMD Zen 1-3, Intel Haswell and later). See
// flat_scan_kernels.h: the fp32 / bf16 kernels keep a row's sixteen lanes as
// two 8-lane halves and reduce them in ReduceSixteen's order, so they score
// bit for bit as the AVX-512 kernels; the int8 kernel sums exact products.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/index/flat_scan_kernels.h"

#if defined(__x86_64__)
#include "common/infra/avx2.h"

namespace orqa::scan_internal {

namespace {

// n fp32 or bf16 values as floats (a row's tail).
void Widen(const float* p, int n, float* out) { std::memcpy(out, p, n * sizeof(float)); }
void Widen(const uint16_t* p, int n, float* out) {
  for (int j = 0; j < n; ++j) out[j] = Bf16ToFloat(p[j]);
}

// Sums each row's sixteen lanes (lo[r]: lanes 0-7, hi[r]: lanes 8-15) for 8
// rows: out[r] = ((G0 + G1) + (G2 + G3)), Gg = (l[4g] + l[4g+2]) + (l[4g+1] + l[4g+3]).
ORQA_AVX2 inline __m256 ReduceEight(const __m256* lo, const __m256* hi) {
  __m128 half[2];  // rows 0-3, rows 4-7
  for (int h = 0; h < 2; ++h) {
    __m128 groups[2];  // (G0 + G1), (G2 + G3) of rows 4h..4h+3
    for (int part = 0; part < 2; ++part) {
      const __m256* v = (part == 0 ? lo : hi) + 4 * h;
      __m256 a[2];
      for (int i = 0; i < 2; ++i) {
        a[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
      }
      const __m256d x = _mm256_castps_pd(a[0]), y = _mm256_castps_pd(a[1]);
      // 128-bit lane L: group (2 · part + L)'s sums of the four rows.
      const __m256 b = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)), _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
      groups[part] = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    }
    half[h] = _mm_add_ps(groups[0], groups[1]);
  }
  return _mm256_set_m128(half[1], half[0]);
}

// Rows [0, count) of a block against one query `qv`, zero-padded to a
// multiple of 16: sixteen lanes per row as two halves, the tail (d % 16)
// widened into a zeroed buffer first, as the AVX-512 kernel's masked loads do.
template <typename Row>
ORQA_AVX2 void ScoreBlock(const Row* block, int count, int d, const float* qv, float* s) {
  const int full = d / 16, rest = d % 16;
  __m256 lo[kBlock], hi[kBlock];
  for (int r = 0; r < kBlock; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  alignas(32) float tail[16];
  for (int r = 0; r < count; ++r) {
    const Row* row = block + static_cast<int64_t>(r) * d;
    __m256 a0 = lo[r], a1 = hi[r];
    for (int c = 0; c < full; ++c) {
      a0 = _mm256_fmadd_ps(Load8(row + c * 16), _mm256_loadu_ps(qv + c * 16), a0);
      a1 = _mm256_fmadd_ps(Load8(row + c * 16 + 8), _mm256_loadu_ps(qv + c * 16 + 8), a1);
    }
    if (rest) {
      for (int j = 0; j < 16; ++j) tail[j] = 0.0f;
      Widen(row + full * 16, rest, tail);
      a0 = _mm256_fmadd_ps(_mm256_load_ps(tail), _mm256_loadu_ps(qv + full * 16), a0);
      a1 = _mm256_fmadd_ps(_mm256_load_ps(tail + 8), _mm256_loadu_ps(qv + full * 16 + 8), a1);
    }
    lo[r] = a0, hi[r] = a1;
  }
  _mm256_store_ps(s, ReduceEight(lo, hi));
  _mm256_store_ps(s + 8, ReduceEight(lo + 8, hi + 8));
}

// The blocks' scores; the queries are copied zero-padded to a multiple of 16.
template <typename Row>
ORQA_AVX2 void ScanRows(const Row* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                        ScanTopK* tops) {
  const int padded = (d + 15) / 16 * 16;
  std::vector<float> qp(static_cast<size_t>(nq) * padded, 0.0f);
  for (int q = 0; q < nq; ++q) std::memcpy(&qp[static_cast<size_t>(q) * padded], queries + static_cast<int64_t>(q) * d, d * sizeof(float));
  alignas(32) float s[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int count = static_cast<int>(std::min<int64_t>(kBlock, n - i));
    for (int q = 0; q < nq; ++q) {
      ScoreBlock(rows + i * d, count, d, qp.data() + static_cast<size_t>(q) * padded, s);
      const __m256 t = _mm256_set1_ps(tops[q].threshold());
      const int above = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(s), t, _CMP_GT_OQ)) |
                        (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(s + 8), t, _CMP_GT_OQ)) << 8);
      if (above) Offer(s, count, id_base + i, &tops[q]);
    }
  }
}

// Exact int32 products of int8 codes with AVX2: vpmaddubsw multiplies
// unsigned by signed bytes and adds pairs into int16 with saturation, so the
// question enters as |q| (≤ 127) and the row as row · sign(q) (|code| ≤ 127):
// a pair sums to at most 2 · 127 · 127 = 32258, never saturating. vpmaddwd
// by ones then widens the pairs into int32.
ORQA_AVX2 inline __m256i DotStep(__m256i acc, __m256i q_abs, __m256i q_codes, __m256i row) {
  const __m256i pairs = _mm256_maddubs_epi16(q_abs, _mm256_sign_epi8(row, q_codes));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// The sums of eight rows' 8-lane int32 accumulators, one lane each (exact:
// integer additions in any order).
ORQA_AVX2 inline __m256i ReduceEightInt(const __m256i* v) {
  const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]), t1 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]), t3 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
  // u0: rows 0-3 in each 128-bit half (low and high halves' partial sums), u1: rows 4-7.
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

// The question's chunks a scan keeps in registers (d ≤ 256; longer rows load them per row).
constexpr int kChunks = 8;

}  // namespace

void ScanRowsAvx2(const float* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops) {
  ScanRows(rows, n, d, queries, nq, id_base, tops);
}
void ScanRowsAvx2(const uint16_t* rows, int64_t n, int d, const float* queries, int nq, int64_t id_base,
                  ScanTopK* tops) {
  ScanRows(rows, n, d, queries, nq, id_base, tops);
}

ORQA_AVX2 void ScanInt8Avx2(const int8_t* rows, const float* row_scales, int64_t n, int d, const Int8Queries& q,
                            int64_t id_base, ScanTopK* tops) {
  const int chunks = (d + 31) / 32, padded = chunks * 32, rest = d % 32;
  // Per query: |codes| then codes, each zero-padded to a multiple of 32.
  std::vector<int8_t> qa(static_cast<size_t>(q.nq) * padded, 0), qc(static_cast<size_t>(q.nq) * padded, 0);
  for (int i = 0; i < q.nq; ++i) {
    for (int j = 0; j < d; ++j) {
      const int8_t c = q.codes[static_cast<int64_t>(i) * d + j];
      qc[static_cast<size_t>(i) * padded + j] = c;
      qa[static_cast<size_t>(i) * padded + j] = static_cast<int8_t>(c < 0 ? -c : c);
    }
  }
  // A block's rows with their tails zero-padded when d is not a multiple of
  // 32, and its scales (zero past the last row).
  std::vector<int8_t> padded_block(rest ? static_cast<size_t>(kBlock) * padded : 0, 0);
  alignas(32) float scales[kBlock];
  alignas(32) float s[kBlock];
  __m256i acc[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int count = static_cast<int>(std::min<int64_t>(kBlock, n - i));
    const int8_t* block = rows + i * d;
    int stride = d;
    if (rest) {
      for (int r = 0; r < count; ++r) std::memcpy(&padded_block[static_cast<size_t>(r) * padded], block + r * d, d);
      block = padded_block.data();
      stride = padded;
    }
    for (int r = 0; r < kBlock; ++r) scales[r] = r < count ? row_scales[i + r] : 0.0f;
    for (int j = 0; j < q.nq; ++j) {
      const int8_t* a = qa.data() + static_cast<size_t>(j) * padded;
      const int8_t* c = qc.data() + static_cast<size_t>(j) * padded;
      for (int r = 0; r < kBlock; ++r) acc[r] = _mm256_setzero_si256();
      if (chunks <= kChunks) {  // the question in registers
        __m256i va[kChunks], vc[kChunks];
        for (int k = 0; k < chunks; ++k) {
          va[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k * 32));
          vc[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + k * 32));
        }
        for (int r = 0; r < count; ++r) {
          const int8_t* row = block + static_cast<int64_t>(r) * stride;
          __m256i x = _mm256_setzero_si256();
          for (int k = 0; k < chunks; ++k) {
            x = DotStep(x, va[k], vc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k * 32)));
          }
          acc[r] = x;
        }
      } else {
        for (int r = 0; r < count; ++r) {
          const int8_t* row = block + static_cast<int64_t>(r) * stride;
          __m256i x = _mm256_setzero_si256();
          for (int k = 0; k < chunks; ++k) {
            x = DotStep(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k * 32)),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + k * 32)),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k * 32)));
          }
          acc[r] = x;
        }
      }
      // Int8Score's arithmetic, eight rows at once: float(dot) · (row scale · question scale).
      const __m256 qs = _mm256_set1_ps(q.scales[j]), t = _mm256_set1_ps(tops[j].threshold());
      int above = 0;
      for (int h = 0; h < 2; ++h) {
        const __m256 score = _mm256_mul_ps(_mm256_cvtepi32_ps(ReduceEightInt(acc + 8 * h)),
                                           _mm256_mul_ps(_mm256_load_ps(scales + 8 * h), qs));
        _mm256_store_ps(s + 8 * h, score);
        above |= _mm256_movemask_ps(_mm256_cmp_ps(score, t, _CMP_GT_OQ)) << (8 * h);
      }
      if (above) Offer(s, count, id_base + i, &tops[j]);
    }
  }
}

}  // namespace orqa::scan_internal
#endif
