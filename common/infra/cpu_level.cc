#include "common/infra/cpu_level.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace orqa {

namespace {

constexpr std::pair<const char*, CpuLevel> kNames[] = {
    {"portable", CpuLevel::kPortable},   {"avx2", CpuLevel::kAvx2},
    {"avx512", CpuLevel::kAvx512},       {"avx512_vnni", CpuLevel::kAvx512Vnni},
    {"avx512_bf16", CpuLevel::kAvx512Bf16}, {"amx", CpuLevel::kAmx},
    // oneDNN's names (ONEDNN_MAX_CPU_ISA): below AVX2 orqa has only its plain loops;
    // AVX2_VNNI's integer products are not used by orqa's kernels.
    {"sse41", CpuLevel::kPortable},      {"avx", CpuLevel::kPortable},
    {"avx2_vnni", CpuLevel::kAvx2},      {"avx512_core", CpuLevel::kAvx512},
    {"avx512_core_vnni", CpuLevel::kAvx512Vnni}, {"avx512_core_bf16", CpuLevel::kAvx512Bf16},
    {"avx512_core_amx", CpuLevel::kAmx}, {"all", CpuLevel::kAmx},
};

#if defined(__x86_64__)
uint64_t Xgetbv() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuLevel Detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return CpuLevel::kPortable;
  const bool osxsave = c & bit_OSXSAVE, fma = c & bit_FMA, avx = c & bit_AVX;
  if (!osxsave || !avx || !fma) return CpuLevel::kPortable;
  const uint64_t xcr0 = Xgetbv();
  if ((xcr0 & 0x6) != 0x6) return CpuLevel::kPortable;  // the OS saves the ymm state
  unsigned b7, c7, d7;
  __cpuid_count(7, 0, a, b7, c7, d7);
  if (!(b7 & bit_AVX2)) return CpuLevel::kPortable;
  const unsigned avx512 = bit_AVX512F | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
  if ((b7 & avx512) != avx512 || (xcr0 & 0xE0) != 0xE0) return CpuLevel::kAvx2;
  if (!(c7 & bit_AVX512VNNI)) return CpuLevel::kAvx512;
  unsigned a71, b71, c71, d71;
  __cpuid_count(7, 1, a71, b71, c71, d71);
  if (!(a71 & bit_AVX512BF16)) return CpuLevel::kAvx512Vnni;
  const unsigned amx = bit_AMX_TILE | bit_AMX_BF16 | bit_AMX_INT8;
  if ((d7 & amx) != amx || (xcr0 & 0x60000) != 0x60000) return CpuLevel::kAvx512Bf16;
  return CpuLevel::kAmx;
}
#else
CpuLevel Detect() { return CpuLevel::kPortable; }
#endif

// The variable's level; `fallback` when it is unset or not a level.
CpuLevel CapOf(const char* variable, CpuLevel fallback) {
  const char* v = std::getenv(variable);
  if (v == nullptr || *v == '\0') return fallback;
  auto level = ParseCpuLevel(v);
  return level.ok() ? *level : fallback;
}

}  // namespace

const char* CpuLevelName(CpuLevel level) {
  for (const auto& [name, l] : kNames) {
    if (l == level) return name;
  }
  return "portable";
}

absl::StatusOr<CpuLevel> ParseCpuLevel(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [n, level] : kNames) {
    if (lower == n) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a CPU level: expected portable, avx2, avx512, avx512_vnni, avx512_bf16, amx "
                              "or oneDNN's AVX2, AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX, ALL"));
}

CpuLevel DetectedCpuLevel() {
  static const CpuLevel level = Detect();
  return level;
}

CpuLevel CpuLevelCap() {
  static const CpuLevel cap =
      std::min(CapOf("ORQA_MAX_CPU_ISA", CpuLevel::kAmx), CapOf("ONEDNN_MAX_CPU_ISA", CpuLevel::kAmx));
  return cap;
}

CpuLevel KernelCpuLevel() { return std::min(DetectedCpuLevel(), CpuLevelCap()); }

absl::Status ValidateCpuLevelCaps() {
  for (const char* variable : {"ORQA_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA"}) {
    const char* v = std::getenv(variable);
    if (v == nullptr || *v == '\0') continue;
    if (auto level = ParseCpuLevel(v); !level.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(variable, ": ", level.status().message()));
    }
  }
  return absl::OkStatus();
}

std::string DescribeCpuLevel() {
  std::string s = absl::StrCat(CpuLevelName(KernelCpuLevel()), " (detected ", CpuLevelName(DetectedCpuLevel()));
  if (CpuLevelCap() < DetectedCpuLevel()) {
    for (const char* variable : {"ORQA_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA"}) {
      if (const char* v = std::getenv(variable); v != nullptr && *v != '\0') {
        absl::StrAppend(&s, ", capped by ", variable, "=", v);
      }
    }
  }
  return s + ")";
}

}  // namespace orqa
