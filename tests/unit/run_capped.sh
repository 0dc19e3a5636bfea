#!/usr/bin/env bash
# Runs a test binary with the instruction set capped at LEVEL, for orqa's
# kernels (ORQA_MAX_CPU_ISA) and oneDNN's (ONEDNN_MAX_CPU_ISA), so the lower
# levels' paths are exercised on any machine that has them. Exits 77 (ctest's
# skip) with "skipped: needs <flag>" where this CPU lacks the level.
# Usage: run_capped.sh LEVEL BINARY [ARGS...]   LEVEL: oneDNN's name
# (SSE41, AVX2, AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX).
set -euo pipefail
level="$1"
shift
case "$level" in
  SSE41) needs="sse4_1" ;;
  AVX2) needs="avx2 fma" ;;
  AVX512_CORE) needs="avx2 fma avx512f avx512bw avx512vl avx512dq" ;;
  AVX512_CORE_VNNI) needs="avx2 fma avx512f avx512bw avx512vl avx512dq avx512_vnni" ;;
  AVX512_CORE_BF16) needs="avx2 fma avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16" ;;
  AVX512_CORE_AMX) needs="avx2 fma avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8" ;;
  *) echo "run_capped.sh: error: unknown level '$level'" >&2; exit 2 ;;
esac
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
for f in $needs; do
  if [[ "$flags" != *" $f "* ]]; then
    echo "skipped: needs $f (level $level)"
    exit 77
  fi
done
export ORQA_MAX_CPU_ISA="$level" ONEDNN_MAX_CPU_ISA="$level"
exec "$@"
