#!/usr/bin/env bash
# `orqa pull` against local servers that speak the Hugging Face Hub's, its
# CDN's and Cloud Storage's protocols (tests/servers/fake_hub.py on
# 127.0.0.1): the cache layout huggingface_hub writes, no second transfer,
# offline mode, a cut transfer resumed by the next run with Range, a corrupted
# byte, 401 / 404 / requester-pays / no-space messages, Authorization never
# sent to the CDN, relative redirects, pagination, --seed-data (download.sh)
# into a folder whose TF checkpoint directories `orqa convert` then reads;
# then the services started with the Hub id (pulled at start, block store and
# embeddings prepared once) answer exactly as from the local files, and
# `orqa benchmark` prints the original project's lines with orqa eval's numbers,
# through a running gateway and through the stack it starts itself.
# env: BUILD_DIR (default build), ORQA_SHARED_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
FX="$SHARED/fixtures/realm-tiny"
FAKE="$ROOT/tests/servers/fake_hub.py"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/orqa-pull.XXXXXX")"
SERVER_PID=""
PIDS=()
stop_services() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_services
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_in() { grep -Fq -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks: $2"; }; }
# expect_failure NAME CMD...: non-zero exit; stderr in $WORK/NAME.err
expect_failure() {
  local name=$1; shift
  if "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"; then fail "$name: succeeded"; fi
}
control() { curl -sf -X POST "http://127.0.0.1:$HUB/_control" -d "$1" > /dev/null; }
log_lines() { wc -l < "$WORK/server.log"; }

# --- a model repo, and buckets laid out as the released ones -----------------
REPO="$WORK/repo"
mkdir -p "$REPO/onnx"
cp "$FX/config.json" "$FX/vocab.txt" "$FX/pytorch_model.bin" "$REPO/"
echo "a file in a folder" > "$REPO/onnx/README.md"
python3 -c "import json,sys; [print(json.dumps(b)) for b in json.load(open(sys.argv[1]))['blocks']]" "$FX/goldens.json" \
  > "$WORK/blocks.jsonl"
python3 "$FAKE" write-npy "$REPO/block_records.npy" < "$WORK/blocks.jsonl"
eval "$("$BIN/make_tf_checkpoints" --fixtures "$FX" --out "$WORK/tf")"
B="$WORK/buckets"
mkdir -p "$B/realm-data/cc_news_pretrained" "$B/realm-data/orqa_nq_model_from_realm/export/best_default" \
  "$B/realm-data/orqa_wq_model_from_realm/export/best_default" "$B/orqa-data/enwiki-20181220" "$B/pay-data/x"
cp -r "$WORK/tf/bert" "$WORK/tf/embedder" "$B/realm-data/cc_news_pretrained/"
cp -r "$WORK/tf/finetuned" "$B/realm-data/orqa_nq_model_from_realm/export/best_default/checkpoint"
cp -r "$WORK/tf/finetuned" "$B/realm-data/orqa_wq_model_from_realm/export/best_default/checkpoint"
cp -r "$WORK/tf/encoded" "$B/orqa-data/enwiki-20181220/encoded"
python3 "$FAKE" write-tfrecord "$B/orqa-data/enwiki-20181220/blocks.tfr" < "$WORK/blocks.jsonl"
echo "billed" > "$B/pay-data/x/file.txt"
mkdir -p "$B/realm-data/orqa_nq_model_from_realm_v2"  # a sibling a prefix match must not take
echo "not this" > "$B/realm-data/orqa_nq_model_from_realm_v2/other.txt"

python3 "$FAKE" serve --repo test-org/realm-tiny="$REPO" --repo test-org/private-tiny="$REPO" \
  --private test-org/private-tiny=s3cret --alias old-org/realm-tiny=test-org/realm-tiny \
  --bucket realm-data="$B/realm-data" --bucket orqa-data="$B/orqa-data" --bucket pay-data="$B/pay-data" \
  --requester-pays pay-data --page-size 2 --log "$WORK/server.log" --ports-file "$WORK/ports" \
  > "$WORK/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/ports" ] && break; sleep 0.1; done
[ -s "$WORK/ports" ] || { cat "$WORK/server.out"; fail "the test servers did not start"; }
port() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/ports" "$1"; }
HUB=$(port hub); CDN=$(port cdn); GCS=$(port gcs)
export HF_ENDPOINT="http://127.0.0.1:$HUB" HF_HOME="$WORK/hf" HF_TOKEN=public-token
unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_HUB_OFFLINE HF_TOKEN_PATH HUGGING_FACE_HUB_TOKEN
export STORAGE_EMULATOR_HOST="127.0.0.1:$GCS"
unset CLOUDSDK_AUTH_ACCESS_TOKEN

echo "== a Hub repo into the cache, laid out as huggingface_hub lays it out"
SNAP=$("$BIN/orqa" pull test-org/realm-tiny --quiet)
CACHE="$WORK/hf/hub/models--test-org--realm-tiny"
COMMIT=$(cat "$CACHE/refs/main")
[[ "$COMMIT" =~ ^[0-9a-f]{40}$ ]] || fail "refs/main holds '$COMMIT', not a commit"
[ "$SNAP" = "$CACHE/snapshots/$COMMIT" ] || fail "printed $SNAP, expected $CACHE/snapshots/$COMMIT"
(cd "$REPO" && find . -type f | sed 's|^\./||' | sort) > "$WORK/want.files"
(cd "$SNAP" && find . -type l | sed 's|^\./||' | sort) > "$WORK/got.files"
cmp "$WORK/want.files" "$WORK/got.files" || fail "the snapshot does not list the repo's files"
while read -r f; do
  cmp "$REPO/$f" "$SNAP/$f" || fail "$f differs from its source"
  size=$(stat -c %s "$REPO/$f")
  case "$f" in
    *.npy|*.bin) blob=$(sha256sum "$REPO/$f" | cut -c1-64) ;;                          # LFS: the sha256
    *) blob=$( (printf 'blob %d\0' "$size"; cat "$REPO/$f") | sha1sum | cut -c1-40) ;;  # git: the blob id
  esac
  depth=$(( $(tr -cd / <<< "$f" | wc -c) + 2 ))
  want="$(printf '../%.0s' $(seq 1 $depth))blobs/$blob"
  [ "$(readlink "$SNAP/$f")" = "$want" ] || fail "$f links to $(readlink "$SNAP/$f"), expected $want"
done < "$WORK/want.files"
(cd "$CACHE" && find . -mindepth 1 | sed 's|^\./||' | sort) > "$WORK/layout"
( echo blobs; for f in $(cat "$WORK/want.files"); do readlink "$SNAP/$f" | sed 's|.*blobs/|blobs/|'; done
  echo refs; echo refs/main; echo snapshots; echo "snapshots/$COMMIT"; echo "snapshots/$COMMIT/onnx"
  sed "s|^|snapshots/$COMMIT/|" "$WORK/want.files" ) | sort -u > "$WORK/layout.want"
diff "$WORK/layout.want" "$WORK/layout" || fail "the cache holds other entries than blobs/, refs/main and snapshots/"
grep '"role": "cdn"' "$WORK/server.log" > "$WORK/cdn.log" || fail "no file came from the CDN port"
if grep -q '"authorization": true' "$WORK/cdn.log"; then fail "the Authorization header reached the CDN"; fi
grep -q '"role": "hub".*"authorization": true' "$WORK/server.log" || fail "the token never reached the Hub"
grep -q 'cursor=' "$WORK/server.log" || fail "the tree listing was not paginated"

echo "== a second pull transfers no file body; offline serves the cache"
before=$(log_lines)
[ "$("$BIN/orqa" pull test-org/realm-tiny --quiet)" = "$SNAP" ] || fail "the second pull printed another folder"
if tail -n +$((before + 1)) "$WORK/server.log" | grep -q '"method": "GET", "path": "/\(blobs\|test-org\)'; then
  fail "the second pull fetched a file body again"
fi
before=$(log_lines)
[ "$(HF_HUB_OFFLINE=1 "$BIN/orqa" pull test-org/realm-tiny --quiet)" = "$SNAP" ] || fail "offline: another folder"
[ "$(log_lines)" = "$before" ] || fail "offline mode talked to the server"
expect_failure offline env HF_HUB_OFFLINE=1 "$BIN/orqa" pull test-org/not-cached
expect_in "$WORK/offline.err" "test-org/not-cached (revision main) is not in the Hugging Face cache $WORK/hf/hub, and HF_HUB_OFFLINE is set"

echo "== --dest places the files as well; a relative redirect (a renamed repo) is followed"
"$BIN/orqa" pull old-org/realm-tiny --dest "$WORK/local" --quiet > /dev/null
cmp "$REPO/pytorch_model.bin" "$WORK/local/pytorch_model.bin" && cmp "$REPO/onnx/README.md" "$WORK/local/onnx/README.md" ||
  fail "--dest differs"
"$BIN/orqa" pull test-org/realm-tiny --include '*.json' --include 'vocab*' --dest "$WORK/some" --quiet > /dev/null
[ "$(cd "$WORK/some" && find . -type f | sort | tr '\n' ' ')" = "./config.json ./vocab.txt " ] || fail "--include took other files"

echo "== a transfer cut at 40 % is resumed by the next run with Range"
export HF_HOME="$WORK/hf-cut"
control '{"drop_at": 0.4}'
expect_failure cut "$BIN/orqa" pull test-org/realm-tiny --include pytorch_model.bin --max-attempts 2 --quiet
expect_in "$WORK/cut.err" "the next run resumes"
SHA=$(sha256sum "$REPO/pytorch_model.bin" | cut -c1-64)
PARTIAL="$WORK/hf-cut/hub/models--test-org--realm-tiny/blobs/$SHA.incomplete"
have=$(stat -c %s "$PARTIAL")
full=$(stat -c %s "$REPO/pytorch_model.bin")
[ "$have" -gt 0 ] && [ "$have" -lt "$full" ] || fail "the partial file holds $have of $full bytes"
[ ! -e "$WORK/hf-cut/hub/models--test-org--realm-tiny/snapshots" ] || fail "a cut file reached snapshots/"
control '{}'
before=$(log_lines)
"$BIN/orqa" pull test-org/realm-tiny --include pytorch_model.bin --quiet > "$WORK/cut.snap"
tail -n +$((before + 1)) "$WORK/server.log" | grep '"role": "cdn"' > "$WORK/resume.log"
grep -q "\"range\": \"bytes=$have-\"" "$WORK/resume.log" || { cat "$WORK/resume.log"; fail "no Range: bytes=$have- request"; }
[ "$have" -gt 0 ] || fail "resumed from 0"
cmp "$REPO/pytorch_model.bin" "$(cat "$WORK/cut.snap")/pytorch_model.bin" || fail "the resumed file differs"
[ ! -e "$PARTIAL" ] || fail "the partial file was left behind"

echo "== a server that ignores Range (200): the partial file restarts cleanly"
export HF_HOME="$WORK/hf-norange"
control '{"drop_at": 0.4}'
expect_failure cut2 "$BIN/orqa" pull test-org/realm-tiny --include pytorch_model.bin --max-attempts 1 --quiet
control '{"ignore_range": true}'
before=$(log_lines)
"$BIN/orqa" pull test-org/realm-tiny --include pytorch_model.bin --quiet > "$WORK/norange.snap"
control '{}'
tail -n +$((before + 1)) "$WORK/server.log" | grep -q '"role": "cdn".*"range": "bytes=[1-9][0-9]*-"' ||
  fail "the second run did not ask for the rest"
cmp "$REPO/pytorch_model.bin" "$(cat "$WORK/norange.snap")/pytorch_model.bin" || fail "the restarted file differs"

echo "== 503 answers are retried with backoff"
export HF_HOME="$WORK/hf-503"
control '{"unavailable": 2}'
"$BIN/orqa" pull test-org/realm-tiny --include pytorch_model.bin > /dev/null 2> "$WORK/retry.err"
control '{}'
expect_in "$WORK/retry.err" "test-org/realm-tiny: pytorch_model.bin: HTTP 503; attempt 2 of 5 in 1 s"
expect_in "$WORK/retry.err" "test-org/realm-tiny: pytorch_model.bin: HTTP 503; attempt 3 of 5 in 1 s"
cmp "$REPO/pytorch_model.bin" "$WORK/hf-503/hub/models--test-org--realm-tiny/snapshots/$COMMIT/pytorch_model.bin" ||
  fail "the retried file differs"

echo "== a corrupted byte: a checksum error naming the file, nothing placed"
export HF_HOME="$WORK/hf-bad"
control '{"corrupt": true}'
expect_failure corrupt "$BIN/orqa" pull test-org/realm-tiny --include pytorch_model.bin --quiet
control '{}'
expect_in "$WORK/corrupt.err" "test-org/realm-tiny: pytorch_model.bin: checksum mismatch: sha256 "
expect_in "$WORK/corrupt.err" ", expected $SHA; the download was deleted, nothing was put in place"
[ -z "$(find "$WORK/hf-bad" -path '*snapshots*' -type l)" ] || fail "a corrupted file reached snapshots/"
[ -z "$(find "$WORK/hf-bad" -name '*.incomplete')" ] || fail "the corrupted download was kept"

echo "== 401 names HF_TOKEN; a token (variable or file) opens a private repo"
export HF_HOME="$WORK/hf-private"
expect_failure private env -u HF_TOKEN "$BIN/orqa" pull test-org/private-tiny --quiet
expect_in "$WORK/private.err" "test-org/private-tiny at $HF_ENDPOINT, revision main: HTTP 401"
expect_in "$WORK/private.err" "set HF_TOKEN (or write a token to \$HF_HOME/token)"
HF_TOKEN=s3cret "$BIN/orqa" pull test-org/private-tiny --include config.json --quiet > /dev/null
mkdir -p "$WORK/hf-private" && echo s3cret > "$WORK/hf-private/token"
env -u HF_TOKEN "$BIN/orqa" pull test-org/private-tiny --include vocab.txt --quiet > /dev/null

echo "== 404s name the repo, the revision and the file"
expect_failure norepo "$BIN/orqa" pull test-org/no-such-model --quiet
expect_in "$WORK/norepo.err" "test-org/no-such-model at $HF_ENDPOINT, revision main: HTTP 404, no such repo or revision"
expect_failure norev "$BIN/orqa" pull test-org/realm-tiny --revision v9 --quiet
expect_in "$WORK/norev.err" "test-org/realm-tiny at $HF_ENDPOINT, revision v9: HTTP 404, no such revision"
control '{"missing": "config.json"}'
expect_failure nofile "$BIN/orqa" pull test-org/realm-tiny --quiet
control '{}'
expect_in "$WORK/nofile.err" "test-org/realm-tiny at $HF_ENDPOINT, revision main, file config.json: HTTP 404, no such file"
expect_failure badid "$BIN/orqa" pull "not a/model/id" --quiet
expect_in "$WORK/badid.err" "'not a/model/id' is not a Hugging Face model id (org/name)"

echo "== not enough space: a clear error before the transfer"
export HF_HOME="$WORK/hf-full"
control '{"inflate": true}'
before=$(log_lines)
expect_failure space "$BIN/orqa" pull test-org/realm-tiny --quiet
control '{}'
expect_in "$WORK/space.err" "test-org/realm-tiny (5 files) needs "
expect_in "$WORK/space.err" " free"
if tail -n +$((before + 1)) "$WORK/server.log" | grep -q '"role": "cdn"'; then fail "bytes moved before the space check"; fi

echo "== Cloud Storage: a prefix as gsutil cp -r places it, verified; a second run fetches nothing"
"$BIN/orqa" pull gs://realm-data/orqa_nq_model_from_realm --dest "$WORK/gs" --quiet > "$WORK/gs.where"
[ "$(cat "$WORK/gs.where")" = "$WORK/gs/orqa_nq_model_from_realm" ] || fail "gs pull printed $(cat "$WORK/gs.where")"
diff -r "$B/realm-data/orqa_nq_model_from_realm" "$WORK/gs/orqa_nq_model_from_realm" || fail "the gs:// copy differs"
[ ! -e "$WORK/gs/orqa_nq_model_from_realm_v2" ] || fail "a sibling prefix was taken"
grep -q 'pageToken=' "$WORK/server.log" || fail "the listing was not paginated"
before=$(log_lines)
"$BIN/orqa" pull gs://realm-data/orqa_nq_model_from_realm --dest "$WORK/gs" --quiet > /dev/null
if tail -n +$((before + 1)) "$WORK/server.log" | grep -q '"role": "gcs", "method": "GET", "path": "/realm-data/'; then
  fail "the second gs:// pull fetched an object again"
fi
rm -rf "$WORK/gs"
control '{"drop_at": 0.4}'
expect_failure gscut "$BIN/orqa" pull gs://orqa-data/enwiki-20181220/encoded --dest "$WORK/gs" --max-attempts 1 --quiet
control '{}'
before=$(log_lines)
"$BIN/orqa" pull gs://orqa-data/enwiki-20181220/encoded --dest "$WORK/gs" --quiet > /dev/null
tail -n +$((before + 1)) "$WORK/server.log" | grep -q '"range": "bytes=[1-9][0-9]*-"' || fail "gs:// did not resume with Range"
diff -r "$B/orqa-data/enwiki-20181220/encoded" "$WORK/gs/encoded" || fail "the resumed gs:// copy differs"
rm -rf "$WORK/gs"
control '{"corrupt": true}'
expect_failure gsbad "$BIN/orqa" pull gs://orqa-data/enwiki-20181220/encoded --dest "$WORK/gs" --quiet
control '{}'
expect_in "$WORK/gsbad.err" "checksum mismatch: crc32c "
[ -z "$(find "$WORK/gs" -type f ! -name '*.orqa-partial' -size +1000c)" ] || fail "a corrupted object was put in place"
expect_failure pays "$BIN/orqa" pull gs://pay-data/x --dest "$WORK/pay" --quiet
expect_in "$WORK/pays.err" "gs://pay-data is a requester-pays bucket"
expect_in "$WORK/pays.err" "--billing-project PROJECT"
"$BIN/orqa" pull gs://pay-data/x --dest "$WORK/pay" --billing-project my-project --quiet > /dev/null
cmp "$B/pay-data/x/file.txt" "$WORK/pay/x/file.txt" || fail "the requester-pays object differs"
expect_failure nobucket "$BIN/orqa" pull gs://no-such-bucket/p --quiet
expect_in "$WORK/nobucket.err" "gs://no-such-bucket/p/: HTTP 404"

echo "== --seed-data fetches what download.sh fetches; orqa convert reads its checkpoint directories"
"$BIN/orqa" pull --seed-data "$WORK/seed" --quiet > /dev/null
for d in cc_news_pretrained orqa_nq_model_from_realm orqa_wq_model_from_realm; do
  diff -r "$B/realm-data/$d" "$WORK/seed/$d" || fail "--seed-data: $d differs"
done
diff -r "$B/orqa-data/enwiki-20181220" "$WORK/seed/enwiki-20181220" || fail "--seed-data: enwiki-20181220 differs"
"$BIN/orqa" convert --kind openqa --config "$FX/config.json" --vocab "$FX/vocab.txt" \
  --from "$WORK/seed/orqa_nq_model_from_realm/export/best_default/checkpoint" \
  --from "$WORK/seed/enwiki-20181220/encoded" --out "$WORK/seed-model" --quiet > /dev/null
"$BIN/orqa" build-blocks --from "$WORK/seed/enwiki-20181220/blocks.tfr" --out "$WORK/seed.blocks" 2>/dev/null |
  grep -q "^wrote $(wc -l < "$WORK/blocks.jsonl") blocks" || fail "the pulled blocks.tfr does not build"

echo "== the services started with a Hub id (pulled at start, blocks and embeddings prepared once) answer as from local files"
export HF_HOME="$WORK/hf-serve" XDG_CACHE_HOME="$WORK/xdg"
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
K=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['reader_beam_size'])" "$FX/config.json")
start_stack() {  # NAME RETRIEVER-ARGS... -- READER-ARGS...: a retriever, a reader and a gateway; sets GW
  local name=$1; shift
  local rargs=() dargs=()
  while [ "$1" != -- ]; do rargs+=("$1"); shift; done; shift
  dargs=("$@")
  local r=$(free_port) d=$(free_port) g=$(free_port)
  "$BIN/orqa-retriever" --grpc-port=$r --metrics-port=0 "${rargs[@]}" > "$WORK/$name-retriever.log" 2>&1 &
  PIDS+=($!)
  "$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 "${dargs[@]}" > "$WORK/$name-reader.log" 2>&1 &
  PIDS+=($!)
  "$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r --reader=127.0.0.1:$d \
    --default-k=$K --admin-token=s3cret > "$WORK/$name-gateway.log" 2>&1 &
  PIDS+=($!)
  GW=127.0.0.1:$g
  for _ in $(seq 1 600); do
    "$BIN/orqa" health $GW --timeout-ms 500 > /dev/null 2>&1 && return 0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { tail -5 "$WORK/$name"-*.log; fail "$name: a service exited"; }; done
    sleep 0.2
  done
  fail "$name: the gateway never became SERVING"
}
ask_all() {  # GATEWAY OUT: every fixture question's answers, without timings
  python3 -c "import json,sys; [print(q['question']) for q in json.load(open(sys.argv[1]))['questions']]" \
    "$FX/goldens.json" | while IFS= read -r q; do
    "$BIN/orqa" ask "$q" --gateway "$1" --num-answers 3 --json |
      python3 -c "import json,sys; r=json.load(sys.stdin); r.pop('timings', None); print(json.dumps(r, sort_keys=True))"
  done > "$2"
}
"$BIN/orqa" build-blocks --from "$REPO/block_records.npy" --out "$WORK/local.blocks" > /dev/null 2>&1
start_stack local --model-dir "$REPO" --blocks "$WORK/local.blocks" --embeddings "$REPO/pytorch_model.bin" -- \
  --model-dir "$REPO"
ask_all $GW "$WORK/answers.local"
echo "== orqa benchmark prints the original project's lines, and its numbers are orqa eval's"
python3 -c "import json,sys; [print(json.dumps({'question': q['question'], 'answers': q['answers']})) for q in json.load(open(sys.argv[1]))['questions']]" \
  "$FX/goldens.json" > "$WORK/qa.jsonl"
NB=$(wc -l < "$WORK/blocks.jsonl")
"$BIN/orqa" benchmark --dataset "$WORK/qa.jsonl" --model "$REPO" --gateway $GW > "$WORK/bench.txt" 2> "$WORK/bench.err"
"$BIN/orqa" eval --data "$WORK/qa.jsonl" --model-dir "$REPO" --gateway $GW --k "$NB" --read-k "$K" \
  --top-k "5,10,$NB" --retrieval dense --concurrency 1 --json > "$WORK/eval.json" 2> /dev/null
python3 - "$WORK/bench.txt" "$WORK/eval.json" "$NB" <<'PY' || fail "orqa benchmark's numbers are not orqa eval's"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
ev = json.load(open(sys.argv[2]))["metrics"]
nb = int(sys.argv[3])
got = dict(l.split(" = ", 1) for l in lines[1:])
names = ["exact_match", "official_exact_match", "reader_oracle"] + ["top_%d_match" % n for n in (5, 10, 50, 100, 500, 1000, 5000)]
assert list(got) == names + ["questions_per_second", "latency_p50_ms", "latency_p99_ms"], list(got)
for n in names:
    want = ev.get(n, ev["top_%d_match" % nb] if n.startswith("top_") else None)
    assert abs(float(got[n].split()[0]) - want) < 5e-5, (n, got[n], want)
print("benchmark = eval:", {n: got[n] for n in names[:4]})
PY
"$BIN/orqa" benchmark --dataset nq --limit 2 --model "$REPO" --gateway $GW > "$WORK/bench-nq.txt" 2> /dev/null
expect_in "$WORK/bench-nq.txt" "NQ-open test: 2 questions, model $REPO, searcher flat"
expect_in "$WORK/bench-nq.txt" "# original project 0.4042; paper 0.404"
"$BIN/orqa" benchmark --dataset wq --limit 2 --model "$REPO" --gateway $GW --searcher hnsw > "$WORK/bench-wq.txt" 2> /dev/null
expect_in "$WORK/bench-wq.txt" "WebQuestions test: 2 questions"
expect_in "$WORK/bench-wq.txt" "# the original project published wq numbers for the flat searcher only"
expect_failure bench-data "$BIN/orqa" benchmark --dataset squad --model "$REPO"
expect_in "$WORK/bench-data.err" "--dataset 'squad': expected nq, wq or an existing JSON-lines file"
stop_services
start_stack hub --model-dir test-org/realm-tiny -- --model-dir test-org/realm-tiny
ask_all $GW "$WORK/answers.hub"
stop_services
# One command: the stack started by orqa benchmark itself, from the Hub id, scores as above.
"$BIN/orqa" benchmark --dataset "$WORK/qa.jsonl" --model test-org/realm-tiny > "$WORK/bench-self.txt" 2> "$WORK/bench-self.err" ||
  { cat "$WORK/bench-self.err"; fail "orqa benchmark could not run its own stack"; }
diff <(sed -n '2,11p' "$WORK/bench.txt") <(sed -n '2,11p' "$WORK/bench-self.txt") ||
  fail "the benchmark's own stack scores differently from the running one"
[ "$(wc -l < "$WORK/answers.local")" -gt 0 ] || fail "no answers"
diff "$WORK/answers.local" "$WORK/answers.hub" || fail "the Hub-id stack answers differently"
STORE="$WORK/hf-serve/hub/models--test-org--realm-tiny/orqa/$(sha256sum "$REPO/block_records.npy" | cut -c1-64).blocks"
[ -s "$STORE" ] || fail "no prepared block store at $STORE"
expect_in "$WORK/hub-retriever.log" "preparing the block store of "
start_stack again --model-dir test-org/realm-tiny -- --model-dir test-org/realm-tiny
# Admin.Deploy takes a Hub id the services have cached; one they have not is refused, serving on.
ORQA_ADMIN_TOKEN=s3cret "$BIN/orqa" jobs deploy --checkpoint test-org/realm-tiny --gateway $GW > "$WORK/deploy.out" ||
  fail "Deploy of a cached Hub id"
expect_failure deploy-uncached env ORQA_ADMIN_TOKEN=s3cret "$BIN/orqa" jobs deploy --checkpoint test-org/not-cached \
  --gateway $GW
expect_in "$WORK/deploy-uncached.err" "reload failed, still serving the previous state: embedder_dir test-org/not-cached: "
expect_in "$WORK/deploy-uncached.err" "run \`orqa pull test-org/not-cached\` on this host first"
ask_all $GW "$WORK/answers.deployed"
diff "$WORK/answers.local" "$WORK/answers.deployed" || fail "answers changed after the Deploy"
stop_services
if grep -q "preparing" "$WORK/again-retriever.log"; then fail "the second start prepared the blocks again"; fi
echo "== scripts/quickstart.sh --model ID pulls, prepares, serves and answers its three questions"
QS_BASE=$(python3 -c "
import random, socket
for _ in range(100):
    base = random.randrange(20000, 40000, 100)
    try:
        socks = [socket.socket() for _ in range(22)]
        [s.bind(('127.0.0.1', base + i)) for i, s in enumerate(socks)]
        print(base); break
    except OSError:
        pass
    finally:
        [s.close() for s in socks]
")
export HF_HOME="$WORK/hf-qs"
XDG_CACHE_HOME="$WORK/xdg-qs" BUILD_DIR="${BUILD_DIR:-$ROOT/build}" bash "$ROOT/scripts/quickstart.sh" \
  --model test-org/realm-tiny --detach --port-base "$QS_BASE" > "$WORK/qs.out" 2>&1 ||
  { tail -20 "$WORK/qs.out"; XDG_CACHE_HOME="$WORK/xdg-qs" bash "$ROOT/scripts/quickstart.sh" stop; fail "quickstart --model"; }
XDG_CACHE_HOME="$WORK/xdg-qs" bash "$ROOT/scripts/quickstart.sh" stop > /dev/null
expect_in "$WORK/qs.out" "pulling test-org/realm-tiny"
expect_in "$WORK/qs.out" "serving test-org/realm-tiny: --index-type bf16 (exact top-k)"
[ "$(grep -c '^Answer: ' "$WORK/qs.out")" = 3 ] || { cat "$WORK/qs.out"; fail "quickstart --model did not answer three questions"; }
export HF_HOME="$WORK/hf-serve"
expect_failure offline-serve env HF_HUB_OFFLINE=1 "$BIN/orqa-reader" --grpc-port=0 --metrics-port=0 \
  --model-dir test-org/not-cached
expect_in "$WORK/offline-serve.err" "--model-dir test-org/not-cached: test-org/not-cached (revision main) is not in the Hugging Face cache"
expect_failure typo "$BIN/orqa-retriever" --grpc-port=0 --metrics-port=0 --model-dir ./no/such/dir
expect_in "$WORK/typo.err" "--model-dir: cannot read './no/such/dir': No such file or directory, and it is not a Hugging Face model id"

echo "PASS: orqa pull speaks the Hub's and Cloud Storage's protocols"
