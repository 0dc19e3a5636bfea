#!/usr/bin/env bash
# Load benchmark of the whole Answer path (not a test). Starts retriever,
# reader, gateway and orqa-rest on loopback, then prints QPS and p50/p99
# latency for 1, 4 and 16 concurrent clients over gRPC (tests/bench/load_gen)
# and over REST (wrk), with dynamic batching on and off, for
#   1. the realm-tiny fixture model over its 12 blocks, and
#   2. a random BERT-base-sized REALM model over the 2,067 SQuAD paragraphs (k = 5).
# env: BUILD_DIR, ORQA_SHARED_DIR, BASE_PORT (default 61000), REQUESTS (fixture, default 300),
#      BASE_REQUESTS (BERT-base, default 8 per client level), WRK_SECONDS (default 5),
#      BASE_WRK_SECONDS (default 60: a BERT-base answer takes seconds on 2 cores), ONLY (fixture|base)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
QUESTIONS="$SHARED/data/squad-v1.1-dev-open/qa-dev.jsonl"
PORT="${BASE_PORT:-61000}"
orqa_work load
DIR="$WORK"

"$BIN/orqa" build-blocks --from "$SHARED/fixtures/hf-format/block_records.npy" --out "$DIR/fixture.blocks" >/dev/null 2>&1
"$BIN/orqa" build-blocks --from "$SHARED/data/squad-v1.1-dev-open/blocks.jsonl" --out "$DIR/squad.blocks" >/dev/null 2>&1
mkdir -p "$DIR/base"
"$BIN/make_random_model" --out "$DIR/base" --vocab "$FIX/vocab.txt" --blocks 2067 >/dev/null

cat > "$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"question": "Which NFL team represented the AFC at Super Bowl 50?"}'
LUA

start_stack() {  # model_dir weights blocks embeddings k batching(on = the defaults | off | reader-only)
  local batch=() rbatch=()
  [ "$6" = off ] && batch=(--max-batch-size=1 --max-queue-delay-ms=0 --max-queue-ms=0)
  [ "$6" = off ] && rbatch=("${batch[@]}")
  [ "$6" = reader-only ] && rbatch=(--max-batch-size=1 --max-queue-delay-ms=0)
  "$BIN/orqa-retriever" --grpc-port=$PORT --metrics-port=$((PORT + 1)) --model-dir="$1" --weights="$2" \
    --blocks="$3" --embeddings="$4" "${rbatch[@]}" --log-level=warn 2>"$DIR/retriever.log" & PIDS+=($!)
  "$BIN/orqa-reader" --grpc-port=$((PORT + 2)) --metrics-port=$((PORT + 3)) --model-dir="$1" --weights="$2" \
    "${batch[@]}" --log-level=warn 2>"$DIR/reader.log" & PIDS+=($!)
  "$BIN/orqa-gateway" --grpc-port=$((PORT + 4)) --metrics-port=$((PORT + 5)) --retrievers=127.0.0.1:$PORT \
    --reader=127.0.0.1:$((PORT + 2)) --default-k="$5" --log-level=warn 2>"$DIR/gateway.log" & PIDS+=($!)
  "$BIN/orqa-rest" --listen=127.0.0.1:$((PORT + 6)) --gateway=127.0.0.1:$((PORT + 4)) 2>"$DIR/rest.log" & PIDS+=($!)
  for _ in $(seq 1 240); do
    "$BIN/orqa" health 127.0.0.1:$((PORT + 4)) --timeout-ms 500 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "stack did not become SERVING; logs in $DIR" >&2
  cat "$DIR"/*.log >&2
  exit 1
}


run_levels() {  # label requests_per_level wrk_seconds
  for c in 1 4 16; do
    local n=$2
    [ "$n" -lt "$c" ] && n=$c
    "$BIN/load_gen" --gateway 127.0.0.1:$((PORT + 4)) --questions "$QUESTIONS" --concurrency $c --requests $n \
      --label "$1" || true
    wrk -t1 -c$c -d"$3"s --timeout 120s --latency -s "$DIR/post.lua" http://127.0.0.1:$((PORT + 6))/v1/answer \
      | awk -v label="$1" -v c=$c '
          /Requests\/sec/ {qps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} /requests in/ {n=$1}
          /Non-2xx/ {err=$NF}
          END {printf "%-34s %6s %5d %8s %8.2f %10s %10s %7s %6s\n", label, "rest", c, n, qps, p50, p99, (err==""?0:err), "-"}'
  done
}

printf "%-34s %6s %5s %8s %8s %10s %10s %7s %6s\n" "model / batching" "api" "conc" "requests" "QPS" "p50" "p99" "errors" "shed"
echo "(gRPC latencies in ms; REST latencies as wrk prints them; QPS counts answered requests; shed = RESOURCE_EXHAUSTED"
echo " from a server's queue-time bound; REST non-2xx include them)"
if [ "${ONLY:-}" != base ]; then
for b in ${MODES:-on off}; do
  start_stack "$FIX" "$FIX/realm_for_open_qa.safetensors" "$DIR/fixture.blocks" "$FIX/realm_for_open_qa.safetensors" 3 $b
  run_levels "realm-tiny, 12 blocks, batching $b" "${REQUESTS:-300}" "${WRK_SECONDS:-5}"
  stop_stack
done
fi
[ "${ONLY:-}" = fixture ] && exit 0
for b in ${MODES:-on off}; do
  start_stack "$DIR/base" "$DIR/base/model.safetensors" "$DIR/squad.blocks" "$DIR/base/block_emb.npy" 5 $b
  run_levels "BERT-base, 2067 blocks, batching $b" "${BASE_REQUESTS:-8}" "${BASE_WRK_SECONDS:-60}"
  stop_stack
done
