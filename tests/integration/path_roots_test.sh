#!/usr/bin/env bash
# Paths in requests confined to --model-root / --data-root / --output-root:
# a stack (gateway with an admin token, retriever, reader, trainer) whose
# services have roots; Deploy (-> Reader.Reload, Retriever.Reload) and
# StartJob naming a model outside the root, one reached through "..", and
# one through a symlink inside the root that points out (a valid model: only
# the check stops it) are PERMISSION_DENIED naming the field; nothing is
# loaded (the answers stay), started (the job list stays empty) or created.
# env: BUILD_DIR (default build), ORQA_SHARED_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
orqa_work roots

R="$WORK/roots"
mkdir -p "$R/models/tiny" "$R/data" "$R/out" "$WORK/outside/tiny"
for d in "$R/models/tiny" "$WORK/outside/tiny"; do cp "$FX/config.json" "$FX/vocab.txt" "$FX/pytorch_model.bin" "$d/"; done
ln -s "$WORK/outside/tiny" "$R/models/link"
fixture_data "$R/data"
cp "$R/data/qa.jsonl" "$WORK/outside/qa.jsonl"
ROOTS=(--model-root="$R/models" --data-root="$R/data" --output-root="$R/out")
r=$(free_port) d=$(free_port) t=$(free_port) g=$(free_port)
"$BIN/orqa-retriever" --grpc-port=$r --metrics-port=0 --model-dir="$R/models/tiny" --blocks="$R/data/blocks.store" \
  --embeddings="$R/models/tiny/pytorch_model.bin" "${ROOTS[@]}" > "$WORK/retriever.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 --model-dir="$R/models/tiny" "${ROOTS[@]}" > "$WORK/reader.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-trainer" --grpc-port=$t --metrics-port=0 --state-dir="$WORK/state" --retriever=127.0.0.1:$r "${ROOTS[@]}" \
  > "$WORK/trainer.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r --reader=127.0.0.1:$d \
  --trainer=127.0.0.1:$t --admin-token=s3cret --default-k=3 > "$WORK/gateway.log" 2>&1 &
PIDS+=($!)
GW=127.0.0.1:$g
REST=127.0.0.1:$(free_port)
"$BIN/orqa-rest" --listen=$REST --gateway=$GW > "$WORK/rest.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do "$BIN/orqa" health $GW --timeout-ms 500 > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN/orqa" health $GW --timeout-ms 500 > /dev/null || { tail -3 "$WORK"/*.log; fail "the stack did not serve"; }
for _ in $(seq 1 100); do curl -sf "http://$REST/healthz" > /dev/null && break; sleep 0.1; done
export ORQA_ADMIN_TOKEN=s3cret
answers() { while IFS= read -r q; do "$BIN/orqa" ask "$q" --gateway $GW --json | python3 -c "import json,sys; r=json.load(sys.stdin); r.pop('timings', None); print(json.dumps(r, sort_keys=True))"; done < <(python3 -c "import json,sys; [print(json.loads(l)['question']) for l in open(sys.argv[1])]" "$R/data/qa.jsonl"); }
answers > "$WORK/before"

# denied NAME ROUTE JSON EXPECTED: an Admin call over REST that must be 403
# (PERMISSION_DENIED) with a message naming the field and the root.
denied() {
  local name=$1 route=$2 body=$3 want=$4 code
  code=$(curl -s -o "$WORK/$name.json" -w '%{http_code}' -X POST "http://$REST$route" \
    -H "Authorization: Bearer s3cret" -d "$body")
  [ "$code" = 403 ] || { cat "$WORK/$name.json"; fail "$name: HTTP $code, expected 403 (PERMISSION_DENIED)"; }
  expect_in "$WORK/$name.json" "$want"
}
status() { curl -sf "http://$REST/v1/admin/status" -H "Authorization: Bearer s3cret"; }
status > "$WORK/status.before"
echo "== Deploy: outside the root, through '..', through a symlink that points out"
deploy() { denied "$1" /v1/admin/deploy "$2" "$3"; }
deploy abs "{\"checkpoint_dir\": \"$WORK/outside/tiny\"}" \
  "embedder_dir: $WORK/outside/tiny is outside --model-root $R/models"
deploy dots "{\"checkpoint_dir\": \"$R/models/../../outside/tiny\"}" \
  "embedder_dir: $R/models/../../outside/tiny is outside --model-root $R/models (it resolves to $WORK/outside/tiny)"
deploy link "{\"checkpoint_dir\": \"$R/models/link\"}" \
  "embedder_dir: $R/models/link is outside --model-root $R/models (it resolves to $WORK/outside/tiny)"
deploy reader "{\"checkpoint_dir\": \"$WORK/outside/tiny\", \"reader\": true}" \
  "model_dir: $WORK/outside/tiny is outside --model-root $R/models"
deploy weights "{\"checkpoint_dir\": \"$R/models/tiny\", \"weights_path\": \"$WORK/outside/tiny/pytorch_model.bin\"}" \
  "weights_path: $WORK/outside/tiny/pytorch_model.bin is outside --model-root $R/models"
answers > "$WORK/after"
diff "$WORK/before" "$WORK/after" || fail "a refused Deploy changed the answers"
status > "$WORK/status.after"
diff "$WORK/status.before" "$WORK/status.after" > /dev/null || {
  diff "$WORK/status.before" "$WORK/status.after"; fail "a refused Deploy changed what is served"; }
"$BIN/orqa" jobs deploy --checkpoint "$R/models/tiny" --gateway $GW > /dev/null || fail "a Deploy inside the root was refused"

echo "== StartJob: data and output outside their roots"
job() {  # MODEL TRAIN OUTPUT
  echo "{\"spec\": {\"kind\": \"JOB_KIND_FINETUNE\", \"model_dir\": \"$1\", \"train_path\": \"$2\", \"output_dir\": \"$3\", \"num_steps\": 1, \"batch_size\": 1, \"learning_rate\": 0.00001}}"
}
denied out /v1/admin/jobs "$(job "$R/models/tiny" "$R/data/qa.jsonl" "$WORK/outside/ckpt")" \
  "output_dir: $WORK/outside/ckpt is outside --output-root $R/out"
[ ! -e "$WORK/outside/ckpt" ] || fail "a refused job created its output directory"
denied train /v1/admin/jobs "$(job "$R/models/tiny" "$WORK/outside/qa.jsonl" "$R/out/ckpt")" \
  "train_path: $WORK/outside/qa.jsonl is outside --data-root $R/data"
denied model /v1/admin/jobs "$(job "$R/models/link" "$R/data/qa.jsonl" "$R/out/ckpt")" \
  "model_dir: $R/models/link is outside --model-root $R/models (it resolves to $WORK/outside/tiny)"
[ ! -e "$R/out/ckpt" ] || fail "a refused job created its output directory"
"$BIN/orqa" jobs list --gateway $GW --json > "$WORK/jobs.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert not j.get('jobs'), j" "$WORK/jobs.json" ||
  fail "a refused job was started"

echo "== a root that is not a directory stops the service at start"
if "$BIN/orqa-reader" --grpc-port=0 --metrics-port=0 --model-root="$WORK/nope" > "$WORK/badroot.out" 2>&1; then
  fail "a missing --model-root was accepted"
fi
expect_in "$WORK/badroot.out" "orqa-reader: error: --model-root: '$WORK/nope' is not a directory"
echo "PASS: paths in requests stay inside their roots"
