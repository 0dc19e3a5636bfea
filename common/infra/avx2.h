#pragma once

// AVX2 + FMA building blocks of orqa's kernels, the level below avx512.h's
// (AMD Zen 1-3, Intel Haswell and later). Compiled per function (ORQA_AVX2),
// chosen at run time by KernelCpuLevel(). Header only; x86-64 only.

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#define ORQA_AVX2 __attribute__((target("avx2,fma")))

namespace orqa {

/// 8 floats, or 8 bf16 values (their bit patterns) widened exactly to floats.
ORQA_AVX2 inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
ORQA_AVX2 inline __m256 Load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// The 16-lane sum of _mm512_reduce_add_ps, for sixteen lanes held as two
/// halves (lanes 0-7 in `lo`): the same additions in the same order, so an
/// AVX2 kernel sums bit for bit as its AVX-512 twin.
ORQA_AVX2 inline float ReduceAddSixteen(__m256 lo, __m256 hi) {
  const __m256 t3 = _mm256_add_ps(hi, lo);
  const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
  const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, _MM_SHUFFLE(0, 1, 0, 1)));
}

}  // namespace orqa
#endif
