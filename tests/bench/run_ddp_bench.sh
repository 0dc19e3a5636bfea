#!/usr/bin/env bash
# Data-parallel training benchmark (not a test): PRETRAIN_MLM steps/s and the
# all-reduce time per step with 1 trainer and with 2 data-parallel trainer
# ranks (c10d Gloo over loopback), same global batch, on the SQuAD-open blocks,
# for the realm-tiny fixture and a `small` model (4 layers x 256, init-model).
# On one 2-core machine the two ranks share the cores with each other: each
# runs 1 LibTorch thread against the single trainer's 2, so this measures the
# overhead of the collective, not a speed-up a second host would give.
# env: BUILD_DIR, ORQA_SHARED_DIR, BASE_PORT (default 63500), STEPS (default 20), BATCH (default 16)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PORT="${BASE_PORT:-63500}"
STEPS="${STEPS:-20}"
BATCH="${BATCH:-16}"
orqa_work ddp
DIR="$WORK"
export ORQA_ADMIN_TOKEN=bench

"$BIN/orqa" build-blocks --from "$SHARED/data/squad-v1.1-dev-open/blocks.jsonl" --out "$DIR/squad.blocks" >/dev/null 2>&1
"$BIN/orqa" init-model --out "$DIR/small" --vocab "$FIX/vocab.txt" --hidden-size 256 --layers 4 --heads 4 \
  --intermediate-size 1024 >/dev/null

start() {  # world_size threads
  local gw=$PORT
  "$BIN/orqa-gateway" --grpc-port=$gw --metrics-port=0 --retrievers=127.0.0.1:1 --reader=127.0.0.1:1 \
    --trainer=127.0.0.1:$((PORT + 1)) --admin-token=bench --log-level=warn 2>"$DIR/gateway.log" & PIDS+=($!)
  for r in $(seq 0 $(($1 - 1))); do
    "$BIN/orqa-trainer" --grpc-port=$((PORT + 1 + r)) --metrics-port=0 --state-dir="$DIR/state-$1-$r" \
      --retriever=127.0.0.1:1 --threads="$2" --rank=$r --world-size="$1" --master-port=$((PORT + 9)) \
      --log-level=warn 2>"$DIR/trainer-$1-$r.log" & PIDS+=($!)
  done
  for _ in $(seq 1 120); do
    "$BIN/orqa" health 127.0.0.1:$((PORT + 1)) --timeout-ms 500 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "trainer did not start; logs in $DIR" >&2
  exit 1
}
stop() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

printf "%-10s %-6s %8s %10s %12s %14s %14s\n" model ranks threads steps/s examples/s allreduce_ms "allreduce MB"
for model in realm-tiny small; do
  dir="$FIX"; weights=(--weights "$FIX/realm_for_open_qa.safetensors")
  [ "$model" = small ] && dir="$DIR/small" && weights=()
  for world in 1 2; do
    threads=2; [ "$world" = 2 ] && threads=1
    start "$world" "$threads"
    id=$("$BIN/orqa" jobs start --gateway 127.0.0.1:$PORT --json --kind mlm --model-dir "$dir" "${weights[@]}" \
      --blocks "$DIR/squad.blocks" --output-dir "$DIR/out-$model-$world" --num-steps "$STEPS" --batch-size "$BATCH" \
      --learning-rate 1e-4 | python3 -c 'import sys, json; print(json.load(sys.stdin)["job_id"])')
    "$BIN/orqa" jobs watch "$id" --gateway 127.0.0.1:$PORT >/dev/null 2>&1 || true
    "$BIN/orqa" jobs get "$id" --gateway 127.0.0.1:$PORT --json > "$DIR/job.json"
    python3 - "$DIR/job.json" "$model" "$world" "$threads" "$dir" <<'PY'
import json, sys, os
j = json.load(open(sys.argv[1]))
model, world, threads, d = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if j.get("state") != "JOB_STATE_SUCCEEDED":
    print(f"{model}: {j.get('state')} {j.get('error', '')}"); sys.exit(0)
h = j["history"][2:]  # the first steps warm up
t = (int(h[-1]["time_unix_ms"]) - int(h[0]["time_unix_ms"])) / 1000.0
steps = (len(h) - 1) / t if t > 0 else 0
ar = [p.get("metrics", {}).get("allreduce_ms") for p in h]
ar = [a for a in ar if a is not None]
# The all-reduced buffer: the gradients of the trained parameters (the embedder's BERT and MLM head).
with open(os.path.join(j["checkpoint_dir"], "model.safetensors"), "rb") as f:
    n = int.from_bytes(f.read(8), "little")
    header = json.loads(f.read(n))
size = sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items()
           if k.startswith("embedder.") and not k.startswith("embedder.projection")) / 1e6
print("%-10s %-6d %8d %10.2f %12.1f %14s %14s" % (model, world, threads, steps, steps * int(j["spec"]["batch_size"]),
      ("%.1f" % (sum(ar) / len(ar))) if ar else "-", ("%.0f" % size) if world > 1 else "-"))
PY
    stop
  done
done
