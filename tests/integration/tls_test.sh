#!/usr/bin/env bash
# Trust between services: the whole stack (gateway, two retriever shards,
# reader, trainer, orqa-rest) over mutual TLS with certificates made by
# scripts/make-certs.sh.
#  - the fixture goldens over gRPC (orqa ask) and HTTPS (curl --cacert --cert);
#    a finetune job through Admin (gateway -> trainer -> retriever over mTLS);
#  - refused: plaintext to a TLS port, a client trusting another CA, a client
#    certificate from another CA, no client certificate, HTTP to HTTPS;
#  - the caller policy: Reader.Reload, Trainer.StartJob, Retriever.Reload
#    called directly with a certificate of the wrong role are
#    PERMISSION_DENIED naming the RPC and the identity, and nothing is loaded
#    or started; Admin with a non-operator certificate is refused too;
#  - rotation: the gateway's and REST's certificates replaced on disk are
#    served to new connections without a restart while a client's calls on
#    its open channel all finish;
#  - the admin token is in no log line; start-up errors name the file.
# env: BUILD_DIR (default build), ORQA_SHARED_DIR, KEEP_WORK
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
orqa_work tls
TOKEN=tls-test-admin-token-4f1c

C="$WORK/certs"
"$ROOT/scripts/make-certs.sh" "$C" > /dev/null
"$ROOT/scripts/make-certs.sh" "$WORK/other" --roles "gateway admin" > /dev/null  # another CA
fixture_data "$WORK/data"

tls_of() { echo "--tls-cert=$C/$1.crt --tls-key=$C/$1.key --tls-client-ca=$C/ca.crt --tls-reload-interval-s=1"; }
r0=$(free_port) r1=$(free_port) d=$(free_port) t=$(free_port) g=$(free_port)
for i in 0 1; do
  port=$([ $i = 0 ] && echo $r0 || echo $r1)
  # shellcheck disable=SC2046
  "$BIN/orqa-retriever" --grpc-port=$port --metrics-port=0 --model-dir="$FX" --blocks="$WORK/data/blocks.store" \
    --embeddings="$FX/pytorch_model.bin" --shard-index=$i --num-shards=2 $(tls_of retriever) > "$WORK/retriever$i.log" 2>&1 &
  PIDS+=($!)
done
# shellcheck disable=SC2046
"$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 --model-dir="$FX" $(tls_of reader) > "$WORK/reader.log" 2>&1 &
PIDS+=($!)
# shellcheck disable=SC2046
"$BIN/orqa-trainer" --grpc-port=$t --metrics-port=0 --state-dir="$WORK/state" --retriever=127.0.0.1:$r0,127.0.0.1:$r1 \
  $(tls_of trainer) --backend-tls-ca="$C/ca.crt" > "$WORK/trainer.log" 2>&1 &
PIDS+=($!)
# shellcheck disable=SC2046
"$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r0,127.0.0.1:$r1 --reader=127.0.0.1:$d \
  --trainer=127.0.0.1:$t --admin-token=$TOKEN --default-k=3 $(tls_of gateway) --backend-tls-ca="$C/ca.crt" \
  > "$WORK/gateway.log" 2>&1 &
PIDS+=($!)
GW=127.0.0.1:$g
REST=127.0.0.1:$(free_port)
"$BIN/orqa-rest" --listen=$REST --gateway=$GW --tls-cert="$C/rest.crt" --tls-key="$C/rest.key" --tls-client-ca="$C/ca.crt" \
  --backend-tls-ca="$C/ca.crt" --tls-reload-interval=1s > "$WORK/rest.log" 2>&1 &
PIDS+=($!)
ADMIN=(--tls-ca "$C/ca.crt" --tls-cert "$C/admin.crt" --tls-key "$C/admin.key")
as_role() { echo "--tls-ca $C/ca.crt --tls-cert $C/$1.crt --tls-key $C/$1.key"; }
for _ in $(seq 1 300); do "$BIN/orqa" health $GW --timeout-ms 500 "${ADMIN[@]}" > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN/orqa" health $GW --timeout-ms 500 "${ADMIN[@]}" > /dev/null || { tail -3 "$WORK"/*.log; fail "the stack did not serve over mTLS"; }
CURL=(curl -s --cacert "$C/ca.crt" --cert "$C/admin.crt" --key "$C/admin.key")
for _ in $(seq 1 100); do "${CURL[@]}" -f "https://$REST/healthz" > /dev/null && break; sleep 0.1; done
expect_in "$WORK/gateway.log" "listening: grpc 127.0.0.1:$g (mutual TLS)"
expect_in "$WORK/rest.log" "listening on https (client certificates required)://$REST, gateway $GW (mutual TLS)"

echo "== the goldens over gRPC and HTTPS"
python3 - "$FX/goldens.json" "$BIN/orqa" "$GW" "$REST" "$C" <<'EOF'
import json, re, string, subprocess, sys
goldens, orqa, gw, rest, c = sys.argv[1:]
g = json.load(open(goldens))
def norm(s):
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())
tls = ["--tls-ca", f"{c}/ca.crt", "--tls-cert", f"{c}/admin.crt", "--tls-key", f"{c}/admin.key"]
checked = 0
for e in g["openqa"]:
    if e["mode"] != "eval":
        continue
    block = e["retrieved_block_ids"][e["block_idx"]]
    out = subprocess.run([orqa, "ask", e["question"], "--gateway", gw, "--json"] + tls, check=True,
                         capture_output=True, text=True).stdout
    a = json.loads(out)["answers"][0]
    assert norm(a["text"]) == norm(e["predicted_answer"]), (e["question"], a["text"], e["predicted_answer"])
    assert int(a["evidence"].get("block_id", 0)) == block, (e["question"], a["evidence"], block)  # 0 is omitted
    body = subprocess.run(["curl", "-sf", "--cacert", f"{c}/ca.crt", "--cert", f"{c}/admin.crt", "--key",
                           f"{c}/admin.key", f"https://{rest}/v1/answer", "-d", json.dumps({"question": e["question"]})],
                          check=True, capture_output=True, text=True).stdout
    r = json.loads(body)["answers"][0]
    assert r["text"] == a["text"] and r["evidence"]["block_id"] == str(block), (r, a)
    checked += 1
assert checked == len(g["questions"]), (checked, len(g["questions"]))
print(f"{checked} questions: gRPC and HTTPS answers equal the goldens")
EOF

echo "== a finetune job through Admin over mTLS (gateway -> trainer -> both shards)"
"$BIN/orqa" jobs start --gateway $GW --admin-token $TOKEN "${ADMIN[@]}" --kind finetune --model-dir "$FX" \
  --train "$WORK/data/qa.jsonl" --output-dir "$WORK/ckpt" --num-steps 2 --batch-size 2 --json > "$WORK/job.json" ||
  { cat "$WORK/job.json" "$WORK/trainer.log" | tail -20; fail "the job was not started"; }
JOB=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['job_id'])" "$WORK/job.json")
"$BIN/orqa" jobs watch "$JOB" --gateway $GW --admin-token $TOKEN "${ADMIN[@]}" > "$WORK/watch.out" 2>&1 ||
  { tail -20 "$WORK/watch.out" "$WORK/trainer.log"; fail "the job over mTLS did not succeed"; }

echo "== refused connections"
refused() {  # NAME CMD...: the command must fail
  local name=$1; shift
  if "$@" > "$WORK/$name.out" 2>&1; then cat "$WORK/$name.out"; fail "$name: accepted"; fi
}
refused plaintext "$BIN/orqa" health $GW --timeout-ms 2000
refused other_ca "$BIN/orqa" health $GW --timeout-ms 2000 --tls-ca "$WORK/other/ca.crt" --tls-cert "$C/admin.crt" --tls-key "$C/admin.key"
refused foreign_cert "$BIN/orqa" health $GW --timeout-ms 2000 --tls-ca "$C/ca.crt" --tls-cert "$WORK/other/admin.crt" --tls-key "$WORK/other/admin.key"
refused no_cert "$BIN/orqa" health $GW --timeout-ms 2000 --tls-ca "$C/ca.crt"
refused no_cert_reader "$BIN/orqa" health 127.0.0.1:$d --timeout-ms 2000 --tls-ca "$C/ca.crt"
refused https_no_cert curl -sf --cacert "$C/ca.crt" "https://$REST/healthz"
refused https_other_ca curl -sf --cacert "$WORK/other/ca.crt" --cert "$C/admin.crt" --key "$C/admin.key" "https://$REST/healthz"
refused http_to_https curl -sf "http://$REST/healthz"

echo "== the caller policy: wrong roles calling internal RPCs directly"
# shellcheck disable=SC2046
"$BIN/orqa" rpc 127.0.0.1:$d orqa.v1.Reader/GetInfo $(as_role admin) > "$WORK/reader_info.before"
# shellcheck disable=SC2046
"$BIN/orqa" rpc 127.0.0.1:$r0 orqa.v1.Retriever/GetInfo $(as_role admin) > "$WORK/retriever_info.before"
denied() {  # NAME ROLE ADDRESS RPC JSON EXPECTED
  local name=$1 role=$2 address=$3 rpc=$4 body=$5 want=$6
  # shellcheck disable=SC2046
  if "$BIN/orqa" rpc "$address" "$rpc" "$body" $(as_role "$role") > "$WORK/$name.out" 2>&1; then
    cat "$WORK/$name.out"; fail "$name: $rpc with the $role certificate was allowed"
  fi
  expect_in "$WORK/$name.out" "(code 7 PERMISSION_DENIED)"
  expect_in "$WORK/$name.out" "$want"
}
denied reader_reload_trainer trainer 127.0.0.1:$d orqa.v1.Reader/Reload "{\"model_dir\": \"$FX\"}" \
  "orqa.v1.Reader/Reload may be called by gateway; the caller is spiffe://orqa/trainer (role trainer)"
denied reader_reload_admin admin 127.0.0.1:$d orqa.v1.Reader/Reload "{\"model_dir\": \"$FX\"}" \
  "orqa.v1.Reader/Reload may be called by gateway; the caller is spiffe://orqa/admin (role admin)"
denied retriever_reload_reader reader 127.0.0.1:$r0 orqa.v1.Retriever/Reload "{\"embedder_dir\": \"$FX\"}" \
  "orqa.v1.Retriever/Reload may be called by gateway or trainer; the caller is spiffe://orqa/reader (role reader)"
denied retriever_search_rest rest 127.0.0.1:$r1 orqa.v1.Retriever/Retrieve '{"question": "x", "k": 1}' \
  "orqa.v1.Retriever/Retrieve may be called by gateway or trainer; the caller is spiffe://orqa/rest (role rest)"
denied trainer_start_admin admin 127.0.0.1:$t orqa.v1.Trainer/StartJob \
  "{\"kind\": \"JOB_KIND_FINETUNE\", \"model_dir\": \"$FX\", \"train_path\": \"$WORK/data/qa.jsonl\", \"output_dir\": \"$WORK/evil\", \"num_steps\": 1}" \
  "orqa.v1.Trainer/StartJob may be called by gateway; the caller is spiffe://orqa/admin (role admin)"
denied trainer_cancel_retriever retriever 127.0.0.1:$t orqa.v1.Trainer/CancelJob "{\"job_id\": \"$JOB\"}" \
  "orqa.v1.Trainer/CancelJob may be called by gateway; the caller is spiffe://orqa/retriever (role retriever)"
denied admin_as_gateway gateway $GW orqa.v1.Admin/GetStatus '{}' \
  "orqa.v1.Admin may be called by admin or rest; the caller is spiffe://orqa/gateway (role gateway)"
# nothing was loaded or started
# shellcheck disable=SC2046
"$BIN/orqa" rpc 127.0.0.1:$d orqa.v1.Reader/GetInfo $(as_role admin) > "$WORK/reader_info.after"
# shellcheck disable=SC2046
"$BIN/orqa" rpc 127.0.0.1:$r0 orqa.v1.Retriever/GetInfo $(as_role admin) > "$WORK/retriever_info.after"
diff "$WORK/reader_info.before" "$WORK/reader_info.after" || fail "a refused Reload changed the reader"
diff "$WORK/retriever_info.before" "$WORK/retriever_info.after" || fail "a refused Reload changed the retriever"
[ ! -e "$WORK/evil" ] || fail "a refused StartJob created its output directory"
"$BIN/orqa" jobs list --gateway $GW --admin-token $TOKEN "${ADMIN[@]}" --json > "$WORK/jobs.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1]))['jobs']; assert len(j) == 1 and j[0]['job_id'] == sys.argv[2], j" \
  "$WORK/jobs.json" "$JOB" || fail "a refused StartJob started a job"
expect_in "$WORK/reader.log" "refused orqa.v1.Reader/Reload from spiffe://orqa/trainer"
# The right roles: the gateway may Reload the reader (Deploy does), the trainer a retriever (BUILD_INDEX does).
# shellcheck disable=SC2046
"$BIN/orqa" rpc 127.0.0.1:$d orqa.v1.Reader/Reload "{\"model_dir\": \"$FX\"}" $(as_role gateway) > /dev/null ||
  fail "the gateway's certificate could not Reload the reader"
# shellcheck disable=SC2046
"$BIN/orqa" rpc 127.0.0.1:$r0 orqa.v1.Retriever/GetInfo $(as_role trainer) > /dev/null ||
  fail "the trainer's certificate could not call the retriever"
"$BIN/orqa" jobs deploy --checkpoint "$FX" --gateway $GW --admin-token $TOKEN "${ADMIN[@]}" > /dev/null ||
  fail "Deploy over mTLS failed"

echo "== the admin token is never logged"
refused wrong_token "$BIN/orqa" jobs list --gateway $GW --admin-token wrong-token-9d2e "${ADMIN[@]}"
expect_in "$WORK/wrong_token.out" "invalid admin token"
"${CURL[@]}" -o /dev/null -H "Authorization: Bearer wrong-token-9d2e" "https://$REST/v1/admin/status"
if grep -l -e "$TOKEN" -e wrong-token-9d2e "$WORK"/*.log; then fail "a log line holds an admin token"; fi

echo "== rotation: new certificates on disk, no restart, calls on an open channel finish"
serial() { openssl s_client -connect "$1" -CAfile "$C/ca.crt" -cert "$C/admin.crt" -key "$C/admin.key" < /dev/null 2> /dev/null |
  openssl x509 -noout -serial; }
gw_before=$(serial $GW) rest_before=$(serial $REST)
[ -n "$gw_before" ] && [ -n "$rest_before" ] || fail "openssl s_client saw no certificate"
for _ in $(seq 1 40); do cat "$WORK/data/qa.jsonl"; done > "$WORK/data/many.jsonl"
"$BIN/orqa" eval --gateway $GW "${ADMIN[@]}" --data "$WORK/data/many.jsonl" --model-dir "$FX" --k 3 --read-k 3 \
  --concurrency 2 --json > "$WORK/eval.json" 2> "$WORK/eval.err" &
EVAL=$!
sleep 1
"$ROOT/scripts/make-certs.sh" "$C" --roles "gateway rest" > /dev/null
rotated=""
for _ in $(seq 1 50); do
  if [ "$(serial $GW)" != "$gw_before" ] && [ "$(serial $REST)" != "$rest_before" ]; then rotated=1; break; fi
  sleep 0.2
done
[ -n "$rotated" ] || fail "the replaced certificates were not served within 10 s (gateway $gw_before, REST $rest_before)"
wait $EVAL || { tail -5 "$WORK/eval.err"; fail "calls across the rotation failed"; }
python3 -c "
import json,sys; s=json.load(open(sys.argv[1])); n=sys.argv[2]
assert s['questions'] == int(n) and s.get('errors', 0) == 0, s
print('%d questions across the rotation, 0 errors' % s['questions'])" "$WORK/eval.json" "$(wc -l < "$WORK/data/many.jsonl")"
"$BIN/orqa" health $GW "${ADMIN[@]}" > /dev/null || fail "no new connection after the rotation"
"${CURL[@]}" -sf "https://$REST/v1/answer" -d '{"question": "who?"}' > /dev/null || fail "HTTPS after the rotation failed"
for p in "${PIDS[@]}"; do kill -0 "$p" || fail "a service exited during the rotation"; done

echo "== start-up errors name the file"
startup() {  # NAME EXPECTED PROGRAM ARGS...
  local name=$1 want=$2; shift 2
  if "$@" > "$WORK/$name.out" 2>&1; then fail "$name: started"; fi
  expect_in "$WORK/$name.out" "$want"
}
startup mismatched "orqa-reader: error: --tls-key: the key in '$C/gateway.key' is not the key of the certificate in '$C/reader.crt' (--tls-cert)" \
  "$BIN/orqa-reader" --grpc-port=0 --metrics-port=0 --tls-cert="$C/reader.crt" --tls-key="$C/gateway.key"
startup missing "orqa-gateway: error: --tls-cert: cannot read '$WORK/nope.crt': No such file or directory" \
  "$BIN/orqa-gateway" --grpc-port=0 --metrics-port=0 --tls-cert="$WORK/nope.crt" --tls-key="$C/gateway.key"
echo "not a certificate" > "$WORK/junk.pem"
startup junk_ca "orqa-trainer: error: --tls-client-ca: '$WORK/junk.pem' holds no PEM certificate" \
  "$BIN/orqa-trainer" --grpc-port=0 --metrics-port=0 --state-dir="$WORK/s2" --tls-cert="$C/trainer.crt" \
  --tls-key="$C/trainer.key" --tls-client-ca="$WORK/junk.pem"
startup ca_alone "orqa-retriever: error: --tls-client-ca needs --tls-cert and --tls-key" \
  "$BIN/orqa-retriever" --grpc-port=0 --metrics-port=0 --tls-client-ca="$C/ca.crt"
startup backend_junk "orqa-gateway: error: --backend-tls-ca: '$WORK/junk.pem' holds no PEM certificate" \
  "$BIN/orqa-gateway" --grpc-port=0 --metrics-port=0 --backend-tls-ca="$WORK/junk.pem"
startup rest_mismatch "--tls-cert '$C/rest.crt' / --tls-key '$C/admin.key'" \
  "$BIN/orqa-rest" --listen=127.0.0.1:0 --tls-cert="$C/rest.crt" --tls-key="$C/admin.key"

echo "== beyond loopback without client certificates: one warning line"
"$BIN/orqa-reader" --host=0.0.0.0 --grpc-port=0 --metrics-port=0 > "$WORK/open.log" 2>&1 &
OPEN=$!
PIDS+=($OPEN)
for _ in $(seq 1 100); do grep -q "listening" "$WORK/open.log" && break; sleep 0.1; done
expect_in "$WORK/open.log" "reader listens on 0.0.0.0 without --tls-client-ca: callers are not authenticated"
[ "$(grep -c 'without --tls-client-ca' "$WORK/open.log")" = 1 ] || fail "expected one warning line"
expect_in "$WORK/open.log" "(plaintext)"
echo "PASS: mutual TLS, caller policy, rotation and start-up checks"
