#pragma once

// AVX-512 building blocks shared by orqa's kernels (the flat scan, the fused
// softmax and int8 quantization). Each kernel is compiled for AVX-512 per
// function (ORQA_AVX512) and chosen at run time by KernelCpuLevel(), so one
// binary runs on any x86-64 (avx2.h holds the AVX2 level's). Header only;
// x86-64 only.

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#define ORQA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace orqa {

/// The lanes of a 16-wide step with `remaining` elements left: all 16, or the first `remaining`.
inline __mmask16 TailMask16(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1);
}

/// 16 floats, or 16 bf16 values (their bit patterns) widened to floats; lanes outside `m` are 0.
ORQA_AVX512 inline __m512 Load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
ORQA_AVX512 inline __m512 Load16(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

}  // namespace orqa
#endif
