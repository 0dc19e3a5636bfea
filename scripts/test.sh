#!/usr/bin/env bash
# The project's test command: install dependencies, build, run every ctest
# test (output shown on failure). Exits non-zero on any failure.
# env: BUILD_DIR (default build), ORQA_SHARED_DIR (default <repo>/../shared)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export ORQA_SHARED_DIR="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"

t0=$(date +%s)
bash "$ROOT/scripts/install-deps.sh"
t1=$(date +%s)
BUILD_DIR="$BUILD_DIR" bash "$ROOT/scripts/build.sh"
t2=$(date +%s)
status=0
(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 600 -j 1) || status=$?
t3=$(date +%s)
echo "test.sh: install $((t1 - t0)) s, build $((t2 - t1)) s, tests $((t3 - t2)) s"
exit $status
