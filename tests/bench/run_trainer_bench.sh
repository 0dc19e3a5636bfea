#!/usr/bin/env bash
# Trainer benchmark (not a test). Starts a retriever, the trainer and a gateway
# on loopback and runs real jobs through `orqa jobs`, then prints one table:
#   FINETUNE steps/s and questions/s at batch 1 and 8 (per-step rates from the
#   job history, the first step left out as warm-up), and the BUILD_INDEX rate,
# for 1. the realm-tiny fixture model (its 12 blocks for finetuning, the 2,067
# SQuAD paragraphs for the index build) and 2. a random BERT-base-sized REALM
# model over the 2,067 SQuAD paragraphs (searcher beam = every block, reader
# beam 5 × 288 tokens; the index build embeds a 1/32 slice).
# env: BUILD_DIR, ORQA_SHARED_DIR, BASE_PORT (default 62000), THREADS (LibTorch
#      threads of the trainer, default 1), ONLY (fixture|base)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
SQUAD="$SHARED/data/squad-v1.1-dev-open"
PORT="${BASE_PORT:-62000}"
THREADS="${THREADS:-1}"
orqa_work trainbench
DIR="$WORK"
export ORQA_ADMIN_TOKEN=bench
GW=127.0.0.1:$((PORT + 4))

"$BIN/orqa" build-blocks --from "$SHARED/fixtures/hf-format/block_records.npy" --out "$DIR/fixture.blocks" >/dev/null 2>&1
"$BIN/orqa" build-blocks --from "$SQUAD/blocks.jsonl" --out "$DIR/squad.blocks" >/dev/null 2>&1
mkdir -p "$DIR/base"
"$BIN/make_random_model" --out "$DIR/base" --vocab "$FIX/vocab.txt" --blocks 2067 >/dev/null
python3 - "$FIX/goldens.json" "$DIR/fixture-train.jsonl" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for q in g["questions"]:
        f.write(json.dumps({"question": q["question"], "answers": q["answers"]}) + "\n")
PY

start_stack() {  # model_dir weights blocks embeddings
  "$BIN/orqa-retriever" --grpc-port=$PORT --metrics-port=$((PORT + 1)) --model-dir="$1" --weights="$2" \
    --blocks="$3" --embeddings="$4" --log-level=warn 2>"$DIR/retriever.log" & PIDS+=($!)
  "$BIN/orqa-trainer" --grpc-port=$((PORT + 2)) --metrics-port=$((PORT + 3)) --state-dir="$DIR/state-$RANDOM" \
    --retriever=127.0.0.1:$PORT --threads="$THREADS" --log-level=warn 2>"$DIR/trainer.log" & PIDS+=($!)
  # The gateway only relays Admin calls here; no reader is needed.
  "$BIN/orqa-gateway" --grpc-port=$((PORT + 4)) --metrics-port=$((PORT + 5)) --retrievers=127.0.0.1:$PORT \
    --reader=127.0.0.1:1 --trainer=127.0.0.1:$((PORT + 2)) --admin-token=bench --log-level=warn 2>"$DIR/gateway.log" & PIDS+=($!)
  for _ in $(seq 1 240); do
    "$BIN/orqa" health 127.0.0.1:$PORT --timeout-ms 500 >/dev/null 2>&1 &&
      "$BIN/orqa" health 127.0.0.1:$((PORT + 2)) --timeout-ms 500 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "stack did not become SERVING; logs in $DIR" >&2
  cat "$DIR"/*.log >&2
  exit 1
}


# Runs one job to its end and prints its row.  label kind batch args...
run_job() {
  local label=$1 kind=$2 batch=$3
  shift 3
  local id
  id=$("$BIN/orqa" jobs start --gateway $GW --json "$@" | python3 -c 'import sys, json; print(json.load(sys.stdin)["job_id"])')
  "$BIN/orqa" jobs watch "$id" --gateway $GW >/dev/null || { "$BIN/orqa" jobs get "$id" --gateway $GW >&2; exit 1; }
  "$BIN/orqa" jobs get "$id" --gateway $GW --json | python3 -c '
import sys, json
label, kind, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
j = json.load(sys.stdin)
if kind == "finetune":
    rates = [h.get("examples_per_second", 0) for h in j.get("history", [])]
    rates = rates[1:] if len(rates) > 1 else rates  # the first step warms up
    q = sum(rates) / len(rates)
    print("%-44s %-12s %6d %8d %10.3f %12.2f" % (label, kind, batch, len(j["history"]), q / batch, q))
else:
    print("%-44s %-12s %6d %8s %10s %12.2f  (%d blocks)" % (label, kind, batch, "-", "-", j.get("examples_per_second", 0), int(j.get("done", 0))))
' "$label" "$kind" "$batch"
}

printf "%-44s %-12s %6s %8s %10s %12s\n" "model (trainer threads: $THREADS)" "job" "batch" "steps" "steps/s" "questions/s"
printf "%-44s %-12s %6s %8s %10s %12s\n" "" "" "" "" "" "(blocks/s)"
if [ "${ONLY:-}" != base ]; then
  W="$FIX/realm_for_open_qa.safetensors"
  start_stack "$FIX" "$W" "$DIR/fixture.blocks" "$W"
  for b in 1 8; do
    run_job "realm-tiny, 12 blocks, beam 6/3" finetune $b --model-dir "$FIX" --weights "$W" \
      --train "$DIR/fixture-train.jsonl" --output-dir "$DIR/out-fix-$b" --num-steps 60 --batch-size $b --learning-rate 1e-4
  done
  run_job "realm-tiny embedder, 2067 SQuAD blocks" build-index 32 --kind build-index --model-dir "$FIX" --weights "$W" \
    --blocks "$DIR/squad.blocks" --embeddings "$DIR/fix.npy" --batch-size 32
  stop_stack
fi
[ "${ONLY:-}" = fixture ] && exit 0
start_stack "$DIR/base" "$DIR/base/model.safetensors" "$DIR/squad.blocks" "$DIR/base/block_emb.npy"
head -n 40 "$SQUAD/qa-train.jsonl" > "$DIR/squad-train.jsonl"
run_job "BERT-base, 2067 blocks, beam 2067/5 x 288" finetune 1 --model-dir "$DIR/base" --train "$DIR/squad-train.jsonl" \
  --output-dir "$DIR/out-base-1" --num-steps 3 --batch-size 1 --learning-rate 1e-5
run_job "BERT-base, 2067 blocks, beam 2067/5 x 288" finetune 8 --model-dir "$DIR/base" --train "$DIR/squad-train.jsonl" \
  --output-dir "$DIR/out-base-8" --num-steps 2 --batch-size 8 --learning-rate 1e-5
run_job "BERT-base embedder, 1/32 of the SQuAD blocks" build-index 16 --kind build-index --model-dir "$DIR/base" \
  --blocks "$DIR/squad.blocks" --embeddings "$DIR/base.npy" --num-shards 32 --batch-size 16
stop_stack
