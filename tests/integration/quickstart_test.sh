#!/usr/bin/env bash
# scripts/quickstart.sh as a newcomer runs it, on the build at hand, without
# ../shared (ORQA_SHARED_DIR points nowhere), with a tiny training budget and
# --detach: the stack answers over gRPC and REST with evidence, `stop` ends
# every process it started, and a second run (cached model) answers within 30 s.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
TMP="$(mktemp -d /tmp/orqa-quickstart-XXXXXX)"
export XDG_CACHE_HOME="$TMP/cache" ORQA_SHARED_DIR="$TMP/no-shared-here" BUILD_DIR
passed=0 failed=0
check() {  # description, command...
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"; else failed=$((failed + 1)); echo "FAILED: $what"; fi
}
free_base() {  # a base port whose 22 ports are all free
  for _ in $(seq 1 50); do
    local base=$((20000 + RANDOM % 12000)) busy=0  # below the ephemeral ports (32768+)
    for off in $(seq 0 21); do
      (exec 3<>/dev/tcp/127.0.0.1/$((base + off))) 2>/dev/null && { busy=1; break; }
    done
    [ $busy = 0 ] && { echo $base; return; }
  done
  echo 31000
}
cleanup() {
  bash "$ROOT/scripts/quickstart.sh" stop >/dev/null 2>&1 || true
  [ -n "${ORQA_KEEP_TEST_FILES:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

BASE=$(free_base)
t0=$(date +%s)
bash "$ROOT/scripts/quickstart.sh" --detach --budget-minutes 0.3 --size tiny --port-base "$BASE" > "$TMP/first.log" 2>&1
rc=$?
first=$(( $(date +%s) - t0 ))
check "first run exits 0 ($first s)" test $rc -eq 0 || { tail -40 "$TMP/first.log"; }
check "first run says every service is SERVING" grep -q "every service is SERVING" "$TMP/first.log"
check "three sample questions, each with an answer and its passage" \
  test "$(grep -c '^  from block' "$TMP/first.log")" -eq 3
check "the URLs are printed" grep -q "web page    http://127.0.0.1:$((BASE + 20))/" "$TMP/first.log"
check "nothing was read from ../shared" test ! -e "$ORQA_SHARED_DIR"

# gRPC and REST, as a client would.
"$BIN/orqa" ask "What is the largest city in Poland?" --gateway 127.0.0.1:$BASE --json > "$TMP/grpc.json" 2>&1
check "gRPC answer with evidence" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
a = r["answers"][0]
assert a["text"] and a["evidence"]["passage"], r
p = a["evidence"]["passage"]
assert p[a["evidence"]["answer_char_begin"]:a["evidence"]["answer_char_end"]] == a["text"], a
' "$TMP/grpc.json"
curl -sS -m 30 -X POST "http://127.0.0.1:$((BASE + 20))/v1/answer" \
  -d '{"question": "Who founded the Yuan dynasty?", "return_retrieved": true}' > "$TMP/rest.json"
check "REST answer with evidence" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["answers"][0]["text"] and r["answers"][0]["evidence"]["passage"] and r["retrieved"], r
' "$TMP/rest.json"
check "the web page is served" bash -c "curl -sS -m 10 http://127.0.0.1:$((BASE + 20))/ | grep -q '<title>orqa</title>'"
check "Prometheus scrapes the services" bash -c "for i in \$(seq 1 40); do
  curl -sS -m 5 'http://127.0.0.1:$((BASE + 21))/api/v1/query?query=sum(up)' | grep -q '\"4\"' && exit 0; sleep 0.5; done; exit 1"

PIDS=$(awk '{print $2}' "$XDG_CACHE_HOME/orqa/run/pids")
bash "$ROOT/scripts/quickstart.sh" stop > "$TMP/stop.log" 2>&1
left=""
for p in $PIDS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
check "stop leaves no process it started (${PIDS//$'\n'/ })" test -z "$left"

# Second run: the model is cached.
t0=$(date +%s)
bash "$ROOT/scripts/quickstart.sh" --detach --port-base "$BASE" > "$TMP/second.log" 2>&1
rc=$?
second=$(( $(date +%s) - t0 ))
check "second run exits 0 and reuses the cached model" grep -q "using the cached model" "$TMP/second.log"
ready=$(sed -n 's/.*ready after \([0-9]*\) s.*/\1/p' "$TMP/second.log")
check "second run answers within 30 s of starting (ready after ${ready:-?} s, done after $second s)" \
  test "${ready:-999}" -le 30
bash "$ROOT/scripts/quickstart.sh" stop > /dev/null 2>&1
echo "quickstart: first run $first s, second run ready after ${ready:-?} s"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
