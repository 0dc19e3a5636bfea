#!/usr/bin/env bash
# One request id end to end: a stack (gateway, two retriever shards — one
# logging text, one JSON —, reader, orqa-rest) at --log-level=debug.
#  - a succeeding REST request with X-Request-Id: the same id comes back in
#    the response header and is in the gateway's, both shards' and the
#    reader's log lines (in both formats), and only in lines of that request;
#  - a failing gRPC request (the reader killed) identified by a W3C
#    traceparent: its trace id is the request id, in the gateway's warning
#    line, both shards' lines, the response metadata and the error message;
#  - a request with no id gets one (response header), an invalid one is
#    replaced.
# env: BUILD_DIR (default build), ORQA_SHARED_DIR, KEEP_WORK
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
orqa_work reqid
fixture_data "$WORK/data"
r0=$(free_port) r1=$(free_port) d=$(free_port) g=$(free_port)
for i in 0 1; do
  fmt=$([ $i = 0 ] && echo text || echo json)
  "$BIN/orqa-retriever" --grpc-port=$([ $i = 0 ] && echo $r0 || echo $r1) --metrics-port=0 --model-dir="$FX" \
    --blocks="$WORK/data/blocks.store" --embeddings="$FX/pytorch_model.bin" --shard-index=$i --num-shards=2 \
    --log-level=debug --log-format=$fmt > "$WORK/retriever$i.log" 2>&1 &
  PIDS+=($!)
done
"$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 --model-dir="$FX" --log-level=debug --log-format=json \
  > "$WORK/reader.log" 2>&1 &
READER=$!
PIDS+=($READER)
"$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r0,127.0.0.1:$r1 --reader=127.0.0.1:$d \
  --default-k=3 --log-level=debug > "$WORK/gateway.log" 2>&1 &
PIDS+=($!)
GW=127.0.0.1:$g REST=127.0.0.1:$(free_port)
"$BIN/orqa-rest" --listen=$REST --gateway=$GW > "$WORK/rest.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do "$BIN/orqa" health $GW --timeout-ms 500 > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN/orqa" health $GW > /dev/null || { tail -3 "$WORK"/*.log; fail "the stack did not serve"; }
for _ in $(seq 1 100); do curl -sf "http://$REST/healthz" > /dev/null && break; sleep 0.1; done
Q="Who is the pioneer in modern computer science?"

echo "== a succeeding REST request with X-Request-Id"
OK=req-ok-7f3a
curl -s -D "$WORK/ok.headers" -o "$WORK/ok.json" "http://$REST/v1/answer" -H "X-Request-Id: $OK" \
  -d "{\"question\": \"$Q\"}"
grep -qi "^x-request-id: $OK" "$WORK/ok.headers" || { cat "$WORK/ok.headers"; fail "the response does not carry $OK"; }
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['answers']" "$WORK/ok.json" || fail "no answer"
sleep 0.3  # the access lines are written as the calls end
for log in gateway retriever0 retriever1 reader; do
  grep -q "request_id=$OK" "$WORK/$log.log" || { cat "$WORK/$log.log"; fail "$log.log lacks request_id=$OK"; }
done
expect_in "$WORK/gateway.log" "rpc /orqa.v1.OpenQA/Answer OK"
expect_in "$WORK/retriever0.log" "rpc /orqa.v1.Retriever/Search OK"
expect_in "$WORK/reader.log" '"msg":"rpc /orqa.v1.Reader/Read OK'
python3 - "$WORK/retriever1.log" "$OK" <<'PY' || fail "the JSON log line with the id is not JSON"
import json, sys
lines = [l for l in open(sys.argv[1]) if sys.argv[2] in l]
assert lines and all(json.loads(l)["msg"].endswith("request_id=" + sys.argv[2]) for l in lines), lines
PY

echo "== a failing gRPC request identified by a traceparent (the reader killed)"
kill -9 $READER
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
if "$BIN/orqa" rpc $GW orqa.v1.OpenQA/Answer "{\"question\": \"$Q\"}" \
    --header "traceparent: 00-$TRACE-00f067aa0ba902b7-01" > "$WORK/fail.out" 2>&1; then
  fail "Answer succeeded without a reader"
fi
expect_in "$WORK/fail.out" "(request id $TRACE) (code 14 UNAVAILABLE)"
sleep 0.3
expect_in "$WORK/gateway.log" "rpc /orqa.v1.OpenQA/Answer UNAVAILABLE"
grep "request_id=$TRACE" "$WORK/gateway.log" | grep -q "UNAVAILABLE" || fail "the gateway's warning lacks the id"
for log in retriever0 retriever1; do
  grep -q "request_id=$TRACE" "$WORK/$log.log" || fail "$log.log lacks the failing request's id"
done

echo "== only in the lines of their request"
for log in gateway retriever0 retriever1 reader; do
  if grep "request_id=$OK" "$WORK/$log.log" | grep -q "$TRACE"; then fail "$log.log mixes the two ids"; fi
  if grep "request_id=$TRACE" "$WORK/$log.log" | grep -q "$OK"; then fail "$log.log mixes the two ids"; fi
done
n_ok=$(grep -c "request_id=$OK" "$WORK/gateway.log")
[ "$n_ok" = 1 ] || fail "the gateway logged $n_ok lines for one Answer"
[ "$(grep -c "request_id=$OK" "$WORK/retriever0.log")" -ge 1 ] || fail "shard 0: no line"

echo "== no id, or an invalid one: a new id is made and returned"
curl -s -D "$WORK/none.headers" -o /dev/null "http://$REST/v1/answer" -d '{"question": ""}'
NEW=$(grep -i '^x-request-id:' "$WORK/none.headers" | tr -d '\r' | awk '{print $2}')
[[ "$NEW" =~ ^[0-9a-f]{16}$ ]] || { cat "$WORK/none.headers"; fail "no new id in the response: '$NEW'"; }
curl -s -D "$WORK/bad.headers" -o "$WORK/bad.json" "http://$REST/v1/answer" -H 'X-Request-Id: bad id with spaces' \
  -d '{"question": ""}'
BAD=$(grep -i '^x-request-id:' "$WORK/bad.headers" | tr -d '\r' | awk '{print $2}')
[[ "$BAD" =~ ^[0-9a-f]{16}$ ]] || fail "an invalid id was kept: '$BAD'"
# The caller's own mistake keeps its documented message exactly (the id is in the header).
python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['message']; assert m == 'question: must not be empty or whitespace-only', m" \
  "$WORK/bad.json" || fail "an INVALID_ARGUMENT message was changed"
echo "PASS: one request id through every hop and log line"
