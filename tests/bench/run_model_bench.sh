#!/usr/bin/env bash
# Prints the model-core benchmark table (tokenizer throughput, BERT-base
# embedder/reader forward time) for 1 and 2 threads.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export ORQA_SHARED_DIR="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
for t in 1 2; do
  OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$BUILD_DIR/bin/model_bench" --threads "$t" --iters "${ITERS:-5}"
  echo
done
