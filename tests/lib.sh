# Shared by the integration shell tests and the bench scripts: source it, then
# call orqa_work NAME.
#   ROOT BIN SHARED FX (= FIX)  the tree, the binaries (BUILD_DIR), ../shared, the realm-tiny fixture
#   stop_services (= stop_stack) SIGTERM and wait for every PID in PIDS
#   orqa_work NAME              WORK=a fresh temp dir; on exit every PID in PIDS is stopped and
#                               WORK removed (kept with KEEP_WORK=1)
#   fail MSG, expect_in FILE TEXT, free_port, cpu_line (the CPU, its cores and vector extensions)
#   python_client_pkg DIR       DIR/orqa_client: the Python client with its stubs generated (for
#                               PYTHONPATH=DIR with Debian's /usr/bin/python3)
#   fixture_data DIR            DIR/blocks.jsonl, DIR/qa.jsonl (the goldens' blocks and questions)
#                               and DIR/blocks.store built from them
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
FX="$SHARED/fixtures/realm-tiny"
FIX="$FX"
PIDS=()
stop_services() {  # SIGTERM to every PID in PIDS, wait for each, forget them
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
stop_stack() { stop_services; }
orqa_work() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/orqa-$1.XXXXXX")"
  trap 'stop_services; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
}
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_in() { grep -Fq -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks: $2"; }; }
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
fixture_data() {
  mkdir -p "$1"
  python3 -c "import json,sys; [print(json.dumps({'id': i, 'text': b})) for i, b in enumerate(json.load(open(sys.argv[1]))['blocks'])]" \
    "$FX/goldens.json" > "$1/blocks.jsonl"
  python3 -c "import json,sys; [print(json.dumps({'question': q['question'], 'answers': q['answers']})) for q in json.load(open(sys.argv[1]))['questions']]" \
    "$FX/goldens.json" > "$1/qa.jsonl"
  "$BIN/orqa" build-blocks --from "$1/blocks.jsonl" --out "$1/blocks.store" > /dev/null 2>&1
}
python_client_pkg() {
  mkdir -p "$1/orqa_client"
  cp "$ROOT"/clients/python/orqa_client/*.py "$1/orqa_client/"
  /usr/bin/python3 "$ROOT/clients/python/gen_stubs.py" --out "$1/orqa_client/_gen" > /dev/null
}
cpu_line() {
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(nproc) CPUs;" \
    "flags: $(grep -o 'avx2\|avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
}
