#!/usr/bin/env bash
# Gateway fan-out benchmark (not a test): Answer latency p50/p99 and the
# gateway's thread count with the 2,067 SQuAD-open paragraphs split over 1, 4
# and 8 retriever shards (realm-tiny embedder and reader, dense, k = 10, the
# reader reads 1), at 1 and 16 concurrent clients (tests/bench/load_gen).
# The gateway calls the shards through gRPC's callback API: its threads must
# not grow with shards x requests in flight.
# env: BUILD_DIR, ORQA_SHARED_DIR, BASE_PORT (default 62000), REQUESTS (default 400)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
W="$FIX/realm_for_open_qa.safetensors"
QUESTIONS="$SHARED/data/squad-v1.1-dev-open/qa-dev.jsonl"
PORT="${BASE_PORT:-62000}"
orqa_work fanout
DIR="$WORK"

"$BIN/orqa" build-blocks --from "$SHARED/data/squad-v1.1-dev-open/blocks.jsonl" --out "$DIR/squad.blocks" >/dev/null 2>&1
"$BIN/orqa" embed-blocks --model "$FIX" --weights "$W" --blocks "$DIR/squad.blocks" --out "$DIR/squad.npy" \
  --batch-size 64 >/dev/null 2>&1

threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

printf "%-7s %5s %8s %8s %10s %10s %7s %16s\n" shards conc requests QPS p50_ms p99_ms errors gateway_threads
for shards in 1 4 8; do
  addrs=""
  for i in $(seq 0 $((shards - 1))); do
    p=$((PORT + 10 + i))
    "$BIN/orqa-retriever" --grpc-port=$p --metrics-port=0 --model-dir="$FIX" --weights="$W" \
      --blocks="$DIR/squad.blocks" --embeddings="$DIR/squad.npy" --shard-index=$i --num-shards=$shards \
      --log-level=warn 2>"$DIR/retriever-$i.log" & PIDS+=($!)
    addrs+="${addrs:+,}127.0.0.1:$p"
  done
  "$BIN/orqa-reader" --grpc-port=$((PORT + 2)) --metrics-port=0 --model-dir="$FIX" --weights="$W" \
    --log-level=warn 2>"$DIR/reader.log" & PIDS+=($!)
  "${GATEWAY_BIN:-$BIN/orqa-gateway}" --grpc-port=$((PORT + 4)) --metrics-port=0 --retrievers="$addrs" \
    --reader=127.0.0.1:$((PORT + 2)) --default-k=10 --log-level=warn 2>"$DIR/gateway.log" & PIDS+=($!)
  gw_pid=$!
  for _ in $(seq 1 240); do
    "$BIN/orqa" health 127.0.0.1:$((PORT + 4)) --timeout-ms 500 >/dev/null 2>&1 && break
    sleep 0.5
  done
  for c in 1 16; do
    peak=$(threads_of $gw_pid)
    "$BIN/load_gen" --gateway 127.0.0.1:$((PORT + 4)) --questions "$QUESTIONS" --concurrency $c \
      --requests "${REQUESTS:-400}" --k 10 --label "$shards shards" > "$DIR/load.out" 2>&1 &
    lg=$!
    while kill -0 $lg 2>/dev/null; do
      t=$(threads_of $gw_pid); [ "$t" -gt "$peak" ] && peak=$t
      sleep 0.05
    done
    wait $lg || true
    # load_gen prints: label api conc requests QPS p50 p99 errors shed
    awk -v s=$shards -v c=$c -v t=$peak '$(NF-7)=="grpc" {printf "%-7s %5d %8s %8s %10s %10s %7s %16s\n", s, c, $(NF-5), $(NF-4), $(NF-3), $(NF-2), $(NF-1), t}' "$DIR/load.out"
  done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
done
