#!/usr/bin/env bash
# Runs one libFuzzer binary for a fixed number of iterations over a fresh
# corpus seeded from the given files (copied to a temporary directory, since
# libFuzzer writes new inputs into its corpus).
# Usage: run_fuzzer.sh BINARY RUNS MAX_LEN [SEED_FILE...]
set -euo pipefail
bin="$1"; runs="$2"; max_len="$3"; shift 3
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
i=0
for seed in "$@"; do
  if [ -f "$seed" ]; then head -c "$max_len" "$seed" > "$corpus/seed$i"; i=$((i + 1)); fi
done
"$bin" -runs="$runs" -max_len="$max_len" -timeout=20 -rss_limit_mb=2048 -seed=1 "$corpus"
