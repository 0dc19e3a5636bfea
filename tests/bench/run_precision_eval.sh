#!/usr/bin/env bash
# What --precision costs in accuracy (not a test): one trained model served at
# fp32, bf16 and int8 (reader and question embedder; the block embeddings are
# the model directory's blocks.npy, made once), all SQuAD-open qa-dev
# questions through the real retriever, reader and gateway, `orqa eval` for
# dense and sparse (BM25) retrieval. Prints exact match, official EM and
# top-1/5/20 match per precision and how many predicted answers differ from fp32.
# usage: tests/bench/run_precision_eval.sh MODEL_DIR  (e.g. ~/.cache/orqa/model,
#        the quickstart's model: config.json, vocab.txt, model.safetensors, blocks.npy
#        embedding the SQuAD-open blocks in order)
# env: BUILD_DIR, ORQA_SHARED_DIR, LIMIT (questions, default all), THREADS (per service,
#      default 1), BASE_PORT (default 63000)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
MODEL="${1:?usage: run_precision_eval.sh MODEL_DIR}"
DATA="$SHARED/data/squad-v1.1-dev-open"
PORT="${BASE_PORT:-63000}"
THREADS="${THREADS:-1}"
[ -f "$MODEL/blocks.npy" ] || { echo "run_precision_eval: $MODEL/blocks.npy: no block embeddings" >&2; exit 2; }
WORK="$(mktemp -d /tmp/orqa-precision-eval-XXXXXX)"
PIDS=()
trap 'stop_stack; rm -rf "$WORK"' EXIT

"$BIN/orqa" build-blocks --from "$DATA/blocks.jsonl" --out "$WORK/blocks.store" >"$WORK/build.log" 2>&1
"$BIN/orqa" build-bm25 --blocks "$WORK/blocks.store" --out "$WORK/bm25" >>"$WORK/build.log" 2>&1
LIMIT_FLAG=()
[ -n "${LIMIT:-}" ] && LIMIT_FLAG=(--limit "$LIMIT")

for p in fp32 bf16 int8; do
  "$BIN/orqa-retriever" --grpc-port=$((PORT + 1)) --metrics-port=0 --model-dir="$MODEL" --blocks="$WORK/blocks.store" \
    --embeddings="$MODEL/blocks.npy" --bm25-index="$WORK/bm25" --threads="$THREADS" --precision=$p \
    --log-level=warn 2>"$WORK/retriever-$p.log" & PIDS+=($!)
  "$BIN/orqa-reader" --grpc-port=$((PORT + 2)) --metrics-port=0 --model-dir="$MODEL" --threads="$THREADS" \
    --precision=$p --log-level=warn 2>"$WORK/reader-$p.log" & PIDS+=($!)
  "$BIN/orqa-gateway" --grpc-port=$PORT --metrics-port=0 --retrievers=127.0.0.1:$((PORT + 1)) \
    --reader=127.0.0.1:$((PORT + 2)) --log-level=warn 2>"$WORK/gateway-$p.log" & PIDS+=($!)
  ready=0
  for _ in $(seq 1 240); do
    if "$BIN/orqa" health 127.0.0.1:$PORT --timeout-ms 500 >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.5
  done
  [ $ready = 1 ] || { echo "stack ($p) did not become SERVING:" >&2; cat "$WORK"/*-$p.log >&2; exit 1; }
  for mode in dense sparse; do
    "$BIN/orqa" eval --gateway 127.0.0.1:$PORT --data "$DATA/qa-dev.jsonl" --model-dir "$MODEL" --k 20 --read-k 5 \
      --top-k 1,5,20 --retrieval $mode --concurrency 4 "${LIMIT_FLAG[@]}" --summary "$WORK/summary-$p-$mode.json" \
      --predictions "$WORK/predictions-$p-$mode.jsonl" >"$WORK/eval-$p-$mode.log" 2>&1 ||
      { cat "$WORK/eval-$p-$mode.log" >&2; exit 1; }
  done
  stop_stack
done

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
print(f"{'retrieval':<10} {'precision':<9} {'questions':>9} {'EM %':>7} {'official EM %':>13} "
      f"{'top-1 %':>8} {'top-5 %':>8} {'top-20 %':>8} {'answers != fp32':>15} {'top-5 lists != fp32':>19}")
def predictions(p, mode):
    return [json.loads(line) for line in open(f"{work}/predictions-{p}-{mode}.jsonl")]
for mode in ("dense", "sparse"):
    base = predictions("fp32", mode)
    for p in ("fp32", "bf16", "int8"):
        s = json.load(open(f"{work}/summary-{p}-{mode}.json"))
        m = s["metrics"]
        rows = predictions(p, mode)
        changed = sum(a["prediction"] != b["prediction"] for a, b in zip(base, rows))
        lists = sum(a["retrieved_top5"] != b["retrieved_top5"] for a, b in zip(base, rows))
        print(f"{mode:<10} {p:<9} {s['questions']:>9} {100 * m['exact_match']:>7.2f} "
              f"{100 * m['official_exact_match']:>13.2f} {100 * m['top_1_match']:>8.2f} {100 * m['top_5_match']:>8.2f} "
              f"{100 * m['top_20_match']:>8.2f} {changed:>15} {lists:>19}")
PY
