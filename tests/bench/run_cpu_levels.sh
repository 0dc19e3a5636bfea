#!/usr/bin/env bash
# One table per instruction-set level: orqa's reader and search against the
# eager anchor in the same run (run_vs_anchor.sh), and the 1M-row fp32 / bf16 /
# int8 scans as a share of the measured read bandwidth (retriever_bench), with
# orqa's kernels and oneDNN capped at each level (ORQA_MAX_CPU_ISA and
# ONEDNN_MAX_CPU_ISA), so one machine measures the levels below its own.
# "native" runs uncapped. Levels this CPU lacks are skipped, saying so.
# env: BUILD_DIR, ORQA_SHARED_DIR, LEVELS (default "AVX2 native"; also
#      AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16), THREADS (default 1,2),
#      ROWS (scan rows, default 1000000), ANCHOR (1 = run the anchor comparison, default 1)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LEVELS="${LEVELS:-AVX2 native}"
THREADS="${THREADS:-1,2}"
ROWS="${ROWS:-1000000}"
ANCHOR="${ANCHOR:-1}"
cpu_line
for level in $LEVELS; do
  echo
  run=()
  if [ "$level" != native ]; then
    if ! out="$(bash "$ROOT/tests/unit/run_capped.sh" "$level" true)"; then
      echo "== $level: $out"
      continue
    fi
    run=(env "ORQA_MAX_CPU_ISA=$level" "ONEDNN_MAX_CPU_ISA=$level")
  fi
  echo "== level $level"
  for p in fp32 bf16 int8; do
    "${run[@]}" "$BIN/model_bench" --threads 1 --iters 1 --precision "$p" | grep '^arithmetic:' || true
  done
  if [ "$ANCHOR" = 1 ]; then
    "${run[@]}" bash "$ROOT/tests/bench/run_vs_anchor.sh"
  fi
  for t in ${THREADS//,/ }; do
    "${run[@]}" "$BIN/retriever_bench" --rows "$ROWS" --types flat,bf16,int8 --ks 5 --batches 1 --threads "$t"
  done
done
