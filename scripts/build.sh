#!/usr/bin/env bash
# Configures and builds orqa with CMake + Ninja (Release by default; ccache when present).
# Usage: scripts/build.sh [extra cmake -D options]   env: BUILD_DIR, BUILD_TYPE (default: the
# tree's configured type, else Release), JOBS
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
# An existing build tree keeps the type it was configured with (quickstart.sh
# and tests build whatever tree they are given: a sanitizer or debug tree must
# not be reconfigured to Release behind its owner's back).
if [ -z "${BUILD_TYPE:-}" ] && [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
  BUILD_TYPE="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")"
fi
BUILD_TYPE="${BUILD_TYPE:-Release}"
JOBS="${JOBS:-$(nproc)}"
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
  ccache --max-size=5G >/dev/null 2>&1 || true
fi
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
