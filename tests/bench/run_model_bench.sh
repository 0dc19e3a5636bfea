#!/usr/bin/env bash
# Prints the model-core benchmark table (tokenizer throughput, BERT-base
# embedder/reader forward time) for 1 and 2 threads, then the reader's time
# per row by rows per forward pass (the dynamic-batching limit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export ORQA_SHARED_DIR="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
for t in 1 2; do
  OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$BUILD_DIR/bin/model_bench" --threads "$t" --iters "${ITERS:-5}"
  echo
done
# The reader's time per row by batch rows, as orqa-reader runs it (1 LibTorch thread,
# OpenBLAS's default threads), with glibc's malloc defaults and with the services' setting.
for heap in 0 1; do
  env -u OPENBLAS_NUM_THREADS "$BUILD_DIR/bin/model_bench" --threads 1 --iters "${SWEEP_ITERS:-1}" --rows-sweep 1 \
    --rows "${SWEEP_ROWS:-1,5,10,20,40}" --heap $heap
  echo
done
