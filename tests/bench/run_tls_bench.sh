#!/usr/bin/env bash
# The latency cost of mutual TLS: the same stack (gateway, two retriever
# shards, reader; the realm-tiny fixture, so the network path dominates and
# the cost shows at its largest) started plaintext and then with every hop on
# mutual TLS (scripts/make-certs.sh), each measured with load_gen at 1 and 16
# clients on one channel, and at 1 client with a new connection (and
# handshake) per call. Rounds alternate plaintext / mTLS to spread drift.
# Prints one table; not a test.
#   tests/bench/run_tls_bench.sh [ROUNDS=2] [CALLS=3000]
# env: BUILD_DIR (default build), ORQA_SHARED_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
ROUNDS=${1:-2}
CALLS=${2:-3000}
orqa_work tls-bench
fixture_data "$WORK/data"
"$ROOT/scripts/make-certs.sh" "$WORK/certs" > /dev/null
C="$WORK/certs"

start_stack() {  # MODE (plain|mtls): starts the four services, sets GW
  local mode=$1 r0 r1 d g tls=()
  r0=$(free_port) r1=$(free_port) d=$(free_port) g=$(free_port)
  role() { [ "$mode" = mtls ] && echo "--tls-cert=$C/$1.crt --tls-key=$C/$1.key --tls-client-ca=$C/ca.crt" || true; }
  for i in 0 1; do
    # shellcheck disable=SC2046
    "$BIN/orqa-retriever" --grpc-port=$([ $i = 0 ] && echo $r0 || echo $r1) --metrics-port=0 --model-dir="$FX" \
      --blocks="$WORK/data/blocks.store" --embeddings="$FX/pytorch_model.bin" --shard-index=$i --num-shards=2 \
      $(role retriever) > "$WORK/$mode-retriever$i.log" 2>&1 &
    PIDS+=($!)
  done
  # shellcheck disable=SC2046
  "$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 --model-dir="$FX" $(role reader) > "$WORK/$mode-reader.log" 2>&1 &
  PIDS+=($!)
  [ "$mode" = mtls ] && tls=(--backend-tls-ca="$C/ca.crt")
  # shellcheck disable=SC2046
  "$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r0,127.0.0.1:$r1 --reader=127.0.0.1:$d \
    --default-k=3 $(role gateway) "${tls[@]}" > "$WORK/$mode-gateway.log" 2>&1 &
  PIDS+=($!)
  GW=127.0.0.1:$g
  CLIENT=()
  [ "$mode" = mtls ] && CLIENT=(--tls-ca "$C/ca.crt" --tls-cert "$C/admin.crt" --tls-key "$C/admin.key")
  for _ in $(seq 1 300); do "$BIN/orqa" health $GW --timeout-ms 500 "${CLIENT[@]}" > /dev/null 2>&1 && return; sleep 0.2; done
  fail "$mode stack did not serve"
}

run() {  # LABEL ARGS...
  "$BIN/load_gen" --gateway $GW --questions "$WORK/data/qa.jsonl" --label "$1" "${@:2}" "${CLIENT[@]}"
}

cpu_line
printf "%-34s %6s %5s %8s %8s %10s %10s %7s %6s\n" case transport conc calls qps p50_ms p99_ms errors shed
for round in $(seq 1 "$ROUNDS"); do
  for mode in plain mtls; do
    start_stack $mode
    run "round $round, 1 client" --concurrency 1 --requests 200 > /dev/null  # warm-up
    run "round $round, 1 client" --concurrency 1 --requests "$CALLS"
    run "round $round, 16 clients" --concurrency 16 --requests $((CALLS * 4))
    run "round $round, 1 client, conn per call" --concurrency 1 --requests $((CALLS / 10)) --fresh-channel 1
    stop_services
  done
done
