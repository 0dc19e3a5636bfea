#!/usr/bin/env bash
# Prints the retriever search benchmark tables:
#  1. 1M synthetic 128-d blocks: exact flat (orqa's scan over FAISS's rows),
#     bf16 and int8 (exact after re-ranking), torch, and FAISS's approximate
#     fp16 / sq8 / ivf indexes, with recall@100 and speed-up;
#  2. 100k blocks: HNSW (its graph build on 2 cores makes 1M take ~20 min);
#  3. 13,353,718 blocks (the released REALM corpus, 6.84 GB): flat, bf16, int8.
# Each run first measures the machine's read bandwidth (the "% of bw" column).
# Synthetic vectors are i.i.d. Gaussian, the hardest case for IVF/HNSW (no
# cluster structure): their recall here is a lower bound.
# env: BUILD_DIR, THREADS (OpenMP, default 2), FULL_ROWS (default 13353718)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin/retriever_bench"
THREADS="${THREADS:-2}"
"$BIN" --rows 1000000 --types flat,bf16,int8,torch,fp16,sq8,ivf --threads "$THREADS"
echo
"$BIN" --rows 100000 --types flat,hnsw --threads "$THREADS"
echo
"$BIN" --rows "${FULL_ROWS:-13353718}" --types flat,bf16,int8 --threads "$THREADS"
