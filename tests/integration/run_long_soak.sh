#!/usr/bin/env bash
# The longer soak (not CI): the soak integration test (two retriever shards, a
# reader and a gateway on loopback; 16 clients; the reader restarted twice and
# shard 1 once, spread over the run) with CALLS Answer calls per round instead
# of ctest's 20,000, ROUNDS times. Every round must pass the test's checks:
# each call OK or UNAVAILABLE / DEADLINE_EXCEEDED within its deadline, every
# answer the one given with everything up, success back within 2 s of each
# restart, and the gateway's and shard 0's threads, open files and RSS not
# growing between 10 % and 100 % of the calls. Prints one line per round
# (calls by code, slowest call, threads / fds / RSS before → after) and a
# verdict; the logs of a failed round are kept.
# Usage: tests/integration/run_long_soak.sh [CALLS] [ROUNDS]   (defaults 200000, 3)
# env: BUILD_DIR, ORQA_SHARED_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
CALLS="${1:-200000}"
ROUNDS="${2:-3}"
[ -x "$BIN/soak_test" ] || { echo "run_long_soak.sh: error: $BIN/soak_test is missing (run scripts/build.sh)" >&2; exit 2; }
case "$CALLS$ROUNDS" in *[!0-9]*) echo "run_long_soak.sh: error: CALLS and ROUNDS must be whole numbers" >&2; exit 2 ;; esac
LOGS="$(mktemp -d /tmp/orqa-long-soak-XXXXXX)"
failed=0
for r in $(seq 1 "$ROUNDS"); do
  start=$(date +%s)
  if ORQA_SOAK_CALLS="$CALLS" "$BIN/soak_test" > "$LOGS/round$r.log" 2>&1; then verdict=passed; else verdict=FAILED; failed=$((failed + 1)); fi
  line="$(grep -m1 '^soak:' "$LOGS/round$r.log" || echo 'soak: (no summary line)')"
  echo "round $r/$ROUNDS, $(( $(date +%s) - start )) s, $verdict: ${line#soak: }"
done
if [ "$failed" -gt 0 ]; then
  echo "$failed of $ROUNDS rounds failed; logs in $LOGS"
  exit 1
fi
rm -rf "$LOGS"
echo "all $ROUNDS rounds of $CALLS calls passed"
