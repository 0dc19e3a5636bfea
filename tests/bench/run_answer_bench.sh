#!/usr/bin/env bash
# End-to-end Answer latency at corpus scale (not a test): a random BERT-base
# REALM model (make_random_model) serving N blocks through the real services
# (retriever, reader, gateway on loopback), one client, k = 5, the reader's 5
# rows of 288 tokens; for each corpus size and retriever index type it prints
# QPS, p50 / p99 and the gateway's per-stage medians. The corpora
# (make_bench_corpus: blocks cut from the SQuAD-open paragraphs, at least 1,300
# characters each so every reader row is full, and random embeddings) are
# kept in DATA_DIR for the next run: 13,353,718 blocks take ~17 GB of disk.
# env: BUILD_DIR, ORQA_SHARED_DIR, BLOCKS (default 1000000,13353718),
#      INDEX_TYPES (default flat,bf16,int8), PRECISION (reader and question
#      embedder, default bf16), THREADS (each service's compute threads, default 2),
#      REQUESTS (default 20), DATA_DIR (default /tmp/orqa-answer-bench), BASE_PORT (default 62000)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
QUESTIONS="$SHARED/data/squad-v1.1-dev-open/qa-dev.jsonl"
DATA="${DATA_DIR:-/tmp/orqa-answer-bench}"
PORT="${BASE_PORT:-62000}"
THREADS="${THREADS:-2}"
PRECISION="${PRECISION:-bf16}"
LOGS="$(mktemp -d /tmp/orqa-answer-bench-logs-XXXXXX)"
PIDS=()
trap 'stop_stack; rm -rf "$LOGS"' EXIT

mkdir -p "$DATA/model"
[ -f "$DATA/model/model.safetensors" ] ||
  "$BIN/make_random_model" --out "$DATA/model" --vocab "$SHARED/fixtures/realm-tiny/vocab.txt" --blocks 1 >/dev/null

echo "orqa Answer end to end: random BERT-base, k = 5, reader 5 x 288 tokens, precision $PRECISION," \
  "$THREADS threads per service, 1 client; $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf "%-34s %6s %5s %8s %8s %10s %10s %7s %6s\n" "blocks / index" "api" "conc" "requests" "QPS" "p50 ms" "p99 ms" \
  "errors" "shed"
for n in $(echo "${BLOCKS:-1000000,13353718}" | tr ',' ' '); do
  if [ ! -f "$DATA/$n.npy" ] || [ ! -f "$DATA/$n.blocks" ]; then
    "$BIN/make_bench_corpus" --source "$SHARED/data/squad-v1.1-dev-open/blocks.jsonl" --rows "$n" \
      --blocks-out "$DATA/$n.blocks" --embeddings-out "$DATA/$n.npy" >&2
  fi
  for type in $(echo "${INDEX_TYPES:-flat,bf16,int8}" | tr ',' ' '); do
    "$BIN/orqa-retriever" --grpc-port=$PORT --metrics-port=$((PORT + 1)) --model-dir="$DATA/model" \
      --blocks="$DATA/$n.blocks" --embeddings="$DATA/$n.npy" --index-type="$type" --threads="$THREADS" \
      --precision="$PRECISION" --log-level=warn 2>"$LOGS/retriever.log" & PIDS+=($!)
    "$BIN/orqa-reader" --grpc-port=$((PORT + 2)) --metrics-port=$((PORT + 3)) --model-dir="$DATA/model" \
      --threads="$THREADS" --precision="$PRECISION" --log-level=warn 2>"$LOGS/reader.log" & PIDS+=($!)
    "$BIN/orqa-gateway" --grpc-port=$((PORT + 4)) --metrics-port=$((PORT + 5)) --retrievers=127.0.0.1:$PORT \
      --reader=127.0.0.1:$((PORT + 2)) --default-k=5 --log-level=warn 2>"$LOGS/gateway.log" & PIDS+=($!)
    ready=0
    for _ in $(seq 1 600); do
      if "$BIN/orqa" health 127.0.0.1:$((PORT + 4)) --timeout-ms 500 >/dev/null 2>&1; then ready=1; break; fi
      sleep 0.5
    done
    if [ $ready = 0 ]; then
      echo "stack did not become SERVING:" >&2
      cat "$LOGS"/*.log >&2
      exit 1
    fi
    "$BIN/load_gen" --gateway 127.0.0.1:$((PORT + 4)) --questions "$QUESTIONS" --concurrency 1 --requests 2 \
      --label warm-up >/dev/null || true
    "$BIN/load_gen" --gateway 127.0.0.1:$((PORT + 4)) --questions "$QUESTIONS" --concurrency 1 \
      --requests "${REQUESTS:-20}" --timings 1 --label "$n blocks, $type"
    stop_stack
  done
done
