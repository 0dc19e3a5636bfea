#pragma once

// The instruction-set level orqa's kernels run at: what the CPU has, capped by
// the environment so that any machine can run (and test) the lower levels'
// paths. One cap for both orqa's kernels and oneDNN's:
//   ORQA_MAX_CPU_ISA    orqa's level names below, or oneDNN's (AVX2, AVX512_CORE, ...)
//   ONEDNN_MAX_CPU_ISA  oneDNN's own cap; orqa's kernels honour it too
// The lower of the two applies. Read once per process.

#include <string>

#include "absl/status/statusor.h"

namespace orqa {

/// x86-64 levels in the order each adds to the one before (a CPU at a level
/// has every lower level's instructions).
enum class CpuLevel {
  kPortable = 0,    // plain C++ loops (no SIMD of orqa's own)
  kAvx2 = 1,        // AVX2 + FMA (Haswell, AMD Zen 1-3)
  kAvx512 = 2,      // AVX-512 F/BW/VL/DQ (Skylake-SP)
  kAvx512Vnni = 3,  // + VNNI int8 products (Cascade Lake, Ice Lake)
  kAvx512Bf16 = 4,  // + BF16 (Cooper Lake, AMD Zen 4)
  kAmx = 5,         // + AMX tiles (Sapphire Rapids)
};

/// "portable", "avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx".
const char* CpuLevelName(CpuLevel level);

/// orqa's names above or oneDNN's cap names (SSE41, AVX, AVX2, AVX2_VNNI,
/// AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX, ALL),
/// case-insensitive; the error names the accepted values.
absl::StatusOr<CpuLevel> ParseCpuLevel(const std::string& name);

/// What this CPU (and its operating system) supports.
CpuLevel DetectedCpuLevel();

/// The lower of ORQA_MAX_CPU_ISA and ONEDNN_MAX_CPU_ISA (kAmx when neither
/// is set; an unreadable value caps nothing: ValidateCpuLevelCaps reports it).
CpuLevel CpuLevelCap();

/// min(DetectedCpuLevel(), CpuLevelCap()): the level orqa's kernels use.
CpuLevel KernelCpuLevel();

/// An error naming the variable when ORQA_MAX_CPU_ISA or ONEDNN_MAX_CPU_ISA
/// holds a value that is not a level (the services check it at start).
absl::Status ValidateCpuLevelCaps();

/// "avx512_bf16 (detected avx512_bf16)" or "avx2 (detected amx, capped by ORQA_MAX_CPU_ISA=avx2)".
std::string DescribeCpuLevel();

}  // namespace orqa
