#!/usr/bin/env bash
# The whole test suite (unit and integration: every service binary the tests
# start is the instrumented one) in an AddressSanitizer + UndefinedBehavior-
# Sanitizer build. Builds into BUILD_DIR (default build-asan, RelWithDebInfo,
# -DORQA_SANITIZE=ON), runs ctest there with every sanitizer report written to
# a file and fatal, then lists the reports. Leak detection is off: LibTorch,
# OpenBLAS and FAISS are not instrumented and keep allocator state until exit.
# integration.containers is left out (it builds a container image from the
# sources, not from these binaries).
# Usage: scripts/sanitize.sh [extra ctest arguments]   env: BUILD_DIR, ORQA_SHARED_DIR, JOBS
# Exit status: 0 when every test passed and no sanitizer wrote a report.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-asan}"
BUILD_DIR="$BUILD" BUILD_TYPE=RelWithDebInfo "$ROOT/scripts/build.sh" -DORQA_SANITIZE=ON || exit 1

REPORTS="$(mktemp -d /tmp/orqa-sanitize-XXXXXX)"
# A small quarantine keeps the RSS checks of the soak test meaningful (ASan's
# default holds 256 MB of freed memory per process).
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:quarantine_size_mb=32:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan"
start=$(date +%s)
(cd "$BUILD" && ctest --output-on-failure --timeout 1800 -j "${JOBS:-2}" -E '^integration\.containers$' "$@")
tests_status=$?
reports=$(find "$REPORTS" -type f | wc -l)
echo "sanitize.sh: ctest exit status $tests_status after $(( $(date +%s) - start )) s; sanitizer reports: $reports"
if [ "$reports" -gt 0 ]; then
  for f in "$REPORTS"/*; do
    echo "== $f"
    head -40 "$f"
  done
  echo "sanitize.sh: reports kept in $REPORTS"
  exit 1
fi
rm -rf "$REPORTS"
exit "$tests_status"
