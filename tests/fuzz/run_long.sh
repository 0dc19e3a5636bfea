#!/usr/bin/env bash
# Long fuzzing runs (not CI): every fuzz target for SECONDS each (default 600),
# JOBS at a time (default 2), seeded like the ctest runs plus the regression
# inputs in tests/fuzz/regressions/<target>/. A crash, leak or timeout input is
# copied into that folder (ctest replays it from then on) and the target is
# reported as a finding. Prints one table: target, runs, seconds, findings.
# Usage: tests/fuzz/run_long.sh [SECONDS] [JOBS]   env: BUILD_DIR, ORQA_SHARED_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FUZZ="${BUILD_DIR:-$ROOT/build}/fuzz"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
SECONDS_EACH="${1:-600}"
JOBS="${2:-2}"
REG="$ROOT/tests/fuzz/regressions"
WORK="$(mktemp -d /tmp/orqa-fuzz-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
for b in fuzz_tokenizer fuzz_readers; do
  [ -x "$FUZZ/$b" ] || { echo "run_long.sh: error: $FUZZ/$b is missing (needs clang++; run scripts/build.sh)" >&2; exit 2; }
done

# target binary reader max_len seeds...
TARGETS=(
  "tokenizer fuzz_tokenizer none 2048 $SHARED/fixtures/realm-tiny/vocab.txt $SHARED/data/squad-v1.1-dev-open/split.json"
  "safetensors fuzz_readers safetensors 16384 $SHARED/fixtures/realm-tiny/goldens.safetensors"
  "pytorch_zip fuzz_readers pytorch_zip 65536 $SHARED/fixtures/realm-tiny/pytorch_model.bin"
  "npy fuzz_readers npy 16384 $SHARED/fixtures/hf-format/block_records.npy $SHARED/fixtures/hf-format/block_emb_f32_fortran.npy"
  "tfrecord fuzz_readers tfrecord 16384 $SHARED/data/tf-formats/tfx-penguin-tfrecord/eval_data.tfrecord"
  "tf_bundle fuzz_readers tf_bundle 16384 $SHARED/data/tf-formats/tfx-estimator-ckpt/model.ckpt-1000.index $SHARED/data/tf-formats/tfx-keras-savedmodel-variables/variables.index"
)

run_one() {  # name binary reader max_len seeds...
  local name=$1 bin=$2 reader=$3 max_len=$4
  shift 4
  local corpus="$WORK/$name/corpus" art="$WORK/$name/artifacts/" i=0
  mkdir -p "$corpus" "$art"
  for seed in "$@" "$REG/$name"/*; do
    if [ -f "$seed" ]; then head -c "$max_len" "$seed" > "$corpus/seed$i"; i=$((i + 1)); fi
  done
  ORQA_FUZZ_READER=$reader "$FUZZ/$bin" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=20 \
    -rss_limit_mb=2048 -artifact_prefix="$art" -print_final_stats=1 "$corpus" > "$WORK/$name/log" 2>&1
  local rc=$?
  local found=0
  for f in "$art"*; do
    [ -f "$f" ] || continue
    mkdir -p "$REG/$name"
    cp "$f" "$REG/$name/$(basename "$f")"
    found=$((found + 1))
  done
  local runs secs
  runs=$(grep -o 'Done [0-9]* runs' "$WORK/$name/log" | grep -o '[0-9]*' | tail -1)
  [ -n "$runs" ] || runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$name/log" | grep -o '[0-9]*$' | tail -1)
  secs=$(grep -o 'in [0-9]* second' "$WORK/$name/log" | grep -o '[0-9]*' | tail -1)
  printf "%-12s %12s %8s %9s %s\n" "$name" "${runs:--}" "${secs:-$SECONDS_EACH}" "$found" \
    "$([ $rc -ne 0 ] && echo "exit $rc: see the copied input(s) in tests/fuzz/regressions/$name")"
}

printf "%-12s %12s %8s %9s\n" target runs seconds findings
active=0
for t in "${TARGETS[@]}"; do
  # shellcheck disable=SC2086
  run_one $t &
  active=$((active + 1))
  if [ "$active" -ge "$JOBS" ]; then wait -n; active=$((active - 1)); fi
done
wait
