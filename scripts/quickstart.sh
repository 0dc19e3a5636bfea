#!/usr/bin/env bash
# One command to a working orqa on this machine, with nothing but the repo:
# installs what is missing (Debian packages), builds, prepares the embedded
# default (SQuAD-open corpus and questions under data/, a model trained here by
# orqa's own trainer on the first run and cached), starts the whole stack on
# localhost, asks three questions and prints where everything is.
#
# Usage: scripts/quickstart.sh [--detach] [--budget-minutes N] [--size small|tiny]
#                              [--model ID|DIR [--blocks FILE --embeddings FILE]] [--port-base N]
#        scripts/quickstart.sh stop
#   --detach          leave the stack running and return (stop it with `scripts/quickstart.sh stop`)
#   --budget-minutes  training time of the first run (default 8; the model is cached afterwards and
#                     trained again when the recipe changes, or when this run asks for another
#                     budget or size)
#   --size            model size trained on the first run (default tiny, 2 x 128: at this budget it
#                     sees four times the questions small (4 x 256) does)
#   --model ID|DIR    serve this model instead: a Hugging Face model id (google/realm-orqa-nq-openqa:
#                     pulled into the Hugging Face cache, its block_records.npy and block_emb prepared
#                     once by the retriever), or a model directory (a converted REALM checkpoint) with
#                     --blocks (blocks.jsonl or a block store) and --embeddings (.npy, safetensors, ...)
#                     unless it holds its block records; dense retrieval, --index-type bf16 (exact
#                     top-k) and the reader precision this CPU runs best (bf16 with AVX-512 BF16 / AMX)
#   --port-base N     gateway on N, retriever N+1, reader N+2, trainer N+3, metrics N+10..N+13,
#                     REST and the web page N+20, Prometheus N+21 (default: 50051, and REST 8080,
#                     Prometheus 9090)
# env: XDG_CACHE_HOME (the cache is $XDG_CACHE_HOME/orqa, default ~/.cache/orqa), BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/fusion.sh"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/orqa"
RUN="$CACHE/run"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"

stop_stack() {
  [ -f "$RUN/pids" ] || { echo "quickstart: nothing to stop"; return 0; }
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done < "$RUN/pids"
  for _ in $(seq 1 150); do
    alive=0
    while read -r name pid; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$RUN/pids"
    [ $alive = 0 ] && break
    sleep 0.2
  done
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; echo "quickstart: killed $name ($pid)"; fi
  done < "$RUN/pids"
  rm -f "$RUN/pids"
  echo "quickstart: stopped"
}

if [ "${1:-}" = stop ]; then stop_stack; exit 0; fi

DETACH=0
BUDGET=8
BUDGET_SET=0
SIZE_SET=0
SIZE=tiny
MODEL="" BLOCKS="" EMBEDDINGS=""
PORT_BASE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --detach) DETACH=1; shift ;;
    --budget-minutes) BUDGET="$2"; BUDGET_SET=1; shift 2 ;;
    --size) SIZE="$2"; SIZE_SET=1; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --blocks) BLOCKS="$2"; shift 2 ;;
    --embeddings) EMBEDDINGS="$2"; shift 2 ;;
    --port-base) PORT_BASE="$2"; shift 2 ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    *) echo "quickstart: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
HUB_MODEL=0
if [ -n "$MODEL" ] && [ ! -e "$MODEL" ]; then
  if [[ "$MODEL" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(@[^[:space:]]+)?$ ]]; then
    HUB_MODEL=1
  else
    echo "quickstart: error: --model $MODEL: no such directory, and not a Hugging Face model id (org/name)" >&2; exit 2
  fi
fi
if [ -n "$MODEL" ] && [ "$HUB_MODEL" = 0 ] && { [ -z "$BLOCKS" ] || [ -z "$EMBEDDINGS" ]; } &&
   [ ! -e "$MODEL/block_records.npy" ] && [ ! -e "$MODEL/blocks.tfr" ] && [ ! -e "$MODEL/blocks.jsonl" ]; then
  echo "quickstart: error: --model $MODEL holds no block records: give --blocks and --embeddings" >&2; exit 2
fi
if [ -f "$RUN/pids" ]; then
  echo "quickstart: a stack is already running (scripts/quickstart.sh stop first)" >&2; exit 1
fi
if [ -n "$PORT_BASE" ]; then
  GW=$PORT_BASE; RET=$((PORT_BASE + 1)); RD=$((PORT_BASE + 2)); TR=$((PORT_BASE + 3)); M=$((PORT_BASE + 10))
  REST=$((PORT_BASE + 20)); PROM=$((PORT_BASE + 21))
else
  GW=50051; RET=50052; RD=50053; TR=50054; M=9151; REST=8080; PROM=9090
fi
mkdir -p "$CACHE"
T0=$(date +%s)
step() { echo "quickstart: [$(( $(date +%s) - T0 )) s] $*"; }

# 1. Packages and build (both skip what is done).
step "checking packages"
bash "$ROOT/scripts/install-deps.sh" | tail -1
step "building (first time: a few minutes)"
BUILD_DIR="$BUILD_DIR" bash "$ROOT/scripts/build.sh" > "$CACHE.build.log" 2>&1 || { tail -30 "$CACHE.build.log"; exit 1; }
T_BUILD=$(( $(date +%s) - T0 ))

# 2. The embedded default, unpacked into the cache; a model trained on first use.
mkdir -p "$CACHE/data" "$RUN"
for f in squad-open/blocks.jsonl squad-open/qa-train.jsonl squad-open/qa-dev.jsonl vocab.txt; do
  out="$CACHE/data/$(basename "$f")"
  [ -s "$out" ] || gzip -dc "$ROOT/data/$f.gz" > "$out"
done
if [ -z "$MODEL" ]; then
  # A model trained by another version of the recipe is trained again, and so is one
  # trained with another --budget-minutes or --size when this run asks for one.
  RECIPE=$(sha256sum "$ROOT/scripts/train-squad-open.sh" | cut -c1-16)
  read -r C_RECIPE C_BUDGET C_SIZE 2>/dev/null < "$CACHE/recipe" || true
  STALE=0
  [ "${C_RECIPE:-}" = "$RECIPE" ] || STALE=1
  [ "$BUDGET_SET" = 1 ] && [ "${C_BUDGET:-}" != "$BUDGET" ] && STALE=1
  [ "$SIZE_SET" = 1 ] && [ "${C_SIZE:-}" != "$SIZE" ] && STALE=1
  if [ ! -s "$CACHE/model/model.safetensors" ] || [ ! -s "$CACHE/model/blocks.npy" ] || [ "$STALE" = 1 ]; then
    step "training a model from nothing on the SQuAD-open corpus (budget $BUDGET min on this machine; cached)"
    rm -rf "$CACHE/train"
    BUILD_DIR="$BUILD_DIR" BASE_PORT=$((M + 40)) bash "$ROOT/scripts/train-squad-open.sh" --budget-minutes "$BUDGET" \
      --size "$SIZE" --data "$CACHE/data" --vocab "$CACHE/data/vocab.txt" --out "$CACHE/train" --eval-limit 300 \
      | tee "$CACHE/train-summary.txt"
    rm -rf "$CACHE/model" && cp -r "$CACHE/train/model" "$CACHE/model"
    cp "$CACHE/train/blocks.store" "$CACHE/blocks.store"
    rm -rf "$CACHE/bm25" && cp -r "$CACHE/train/bm25" "$CACHE/bm25"
    cp "$CACHE/train/fusion.txt" "$CACHE/fusion.txt"
    echo "$RECIPE $BUDGET $SIZE" > "$CACHE/recipe"
  else
    step "using the cached model in $CACHE/model"
  fi
  MODEL="$CACHE/model"; BLOCKS_STORE="$CACHE/blocks.store"; EMBEDDINGS="$CACHE/model/blocks.npy"; BM25="$CACHE/bm25"
  # BM25 retrieves best for a model trained in minutes (README: dense and hybrid figures);
  # hybrid requests fuse as the training run chose on its held-out questions.
  RETRIEVAL=sparse
  fusion_flags "$(cat "$CACHE/fusion.txt" 2>/dev/null)"
  FUSION=("${FUSION_FLAGS[@]}")
elif [ -z "$BLOCKS" ]; then
  # A released model: pulled here (progress on this terminal), its blocks and
  # embeddings prepared once by the retriever from the model's own files.
  if [ "$HUB_MODEL" = 1 ]; then
    step "pulling $MODEL (Hugging Face cache: resumable; a second run transfers nothing)"
    "$BIN/orqa" pull "$MODEL" > /dev/null
  fi
  BLOCKS_STORE="" BM25=""
  RETRIEVAL=dense
  FUSION=(--fusion rrf)
else
  BLOCKS_STORE="$BLOCKS"
  case "$BLOCKS" in
    *.jsonl|*.tfr|*.npy) BLOCKS_STORE="$CACHE/custom.blocks"; "$BIN/orqa" build-blocks --from "$BLOCKS" --out "$BLOCKS_STORE" ;;
  esac
  BM25="$CACHE/custom-bm25"
  "$BIN/orqa" build-bm25 --blocks "$BLOCKS_STORE" --out "$BM25" >/dev/null 2>&1
  RETRIEVAL=dense
  FUSION=(--fusion rrf)
fi
# Serving a given model: the index and arithmetic this CPU runs best (README: Every x86-64 CPU).
SERVE_ARGS=() RETRIEVER_ARGS=()
if [ -n "$MODEL" ] && [ "$MODEL" != "$CACHE/model" ]; then
  PRECISION=fp32
  grep -qw 'avx512_bf16\|amx_bf16' /proc/cpuinfo && PRECISION=bf16
  SERVE_ARGS=(--precision=$PRECISION)
  RETRIEVER_ARGS=(--index-type=bf16)
  step "serving $MODEL: --index-type bf16 (exact top-k), --precision $PRECISION"
fi
T_PREP=$(( $(date +%s) - T0 ))

# 3. The stack, every process recorded by PID.
step "starting the services"
: > "$RUN/pids"
start() {  # name, command...
  local name=$1
  shift
  nohup "$@" > "$RUN/$name.log" 2>&1 < /dev/null &
  echo "$name $!" >> "$RUN/pids"
}
[ -n "$BLOCKS_STORE" ] && RETRIEVER_ARGS+=(--blocks="$BLOCKS_STORE")
[ -n "$EMBEDDINGS" ] && RETRIEVER_ARGS+=(--embeddings="$EMBEDDINGS")
[ -n "$BM25" ] && RETRIEVER_ARGS+=(--bm25-index="$BM25")
start retriever "$BIN/orqa-retriever" --grpc-port=$RET --metrics-port=$M --model-dir="$MODEL" "${RETRIEVER_ARGS[@]}" \
  "${SERVE_ARGS[@]}"
start reader "$BIN/orqa-reader" --grpc-port=$RD --metrics-port=$((M + 1)) --model-dir="$MODEL" "${SERVE_ARGS[@]}"
start trainer "$BIN/orqa-trainer" --grpc-port=$TR --metrics-port=$((M + 2)) --state-dir="$CACHE/trainer-state" \
  --retriever=127.0.0.1:$RET
TOKEN="${ORQA_ADMIN_TOKEN:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
echo "$TOKEN" > "$RUN/admin-token" && chmod 600 "$RUN/admin-token"
start gateway "$BIN/orqa-gateway" --grpc-port=$GW --metrics-port=$((M + 3)) --retrievers=127.0.0.1:$RET \
  --reader=127.0.0.1:$RD --trainer=127.0.0.1:$TR --admin-token="$TOKEN" --retrieval=$RETRIEVAL --default-k=20 "${FUSION[@]}"
start rest "$BIN/orqa-rest" --listen=127.0.0.1:$REST --gateway=127.0.0.1:$GW
if command -v prometheus >/dev/null; then
  cat > "$RUN/prometheus.yml" <<YML
global:
  scrape_interval: 5s
rule_files:
  - $ROOT/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: orqa
    static_configs:
      - targets: ['127.0.0.1:$M', '127.0.0.1:$((M + 1))', '127.0.0.1:$((M + 2))', '127.0.0.1:$((M + 3))']
YML
  start prometheus prometheus --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/prometheus-data" \
    --web.listen-address=127.0.0.1:$PROM
fi
# A released model's first start prepares its block store (minutes for 13.35M blocks).
WAIT_TICKS=240
[ "$MODEL" != "$CACHE/model" ] && WAIT_TICKS=28800
for _ in $(seq 1 $WAIT_TICKS); do
  "$BIN/orqa" health 127.0.0.1:$GW --timeout-ms 500 >/dev/null 2>&1 && break
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || { echo "quickstart: $name exited:"; tail -5 "$RUN/$name.log"; stop_stack; exit 1; }
  done < "$RUN/pids"
  sleep 0.25
done
"$BIN/orqa" health 127.0.0.1:$GW --timeout-ms 500 >/dev/null || { echo "quickstart: the gateway never became SERVING"; stop_stack; exit 1; }
for _ in $(seq 1 80); do curl -sf "http://127.0.0.1:$REST/healthz" >/dev/null && break; sleep 0.25; done
T_UP=$(( $(date +%s) - T0 ))
step "every service is SERVING"

# 4. Three questions, answered with their evidence.
while IFS= read -r q; do
  echo
  echo "Q: $q"
  "$BIN/orqa" ask "$q" --gateway 127.0.0.1:$GW --num-answers 1 || true
done <<'QUESTIONS'
Which NFL team represented the AFC at Super Bowl 50?
What is the largest city in Poland?
Who founded the Yuan dynasty?
QUESTIONS

cat <<EOF2

orqa is running (ready after $T_UP s: build $T_BUILD s, data and model $((T_PREP - T_BUILD)) s):
  web page    http://127.0.0.1:$REST/
  REST        curl -s -X POST http://127.0.0.1:$REST/v1/answer -d '{"question": "What is the capital of Poland?"}'
  gRPC        127.0.0.1:$GW   (orqa ask "QUESTION" --gateway 127.0.0.1:$GW)
  Prometheus  http://127.0.0.1:$PROM/
  admin token $RUN/admin-token  (ORQA_ADMIN_TOKEN=\$(cat $RUN/admin-token) orqa jobs list --gateway 127.0.0.1:$GW)
  logs        $RUN/*.log
  stop        scripts/quickstart.sh stop
EOF2
if [ "$DETACH" = 1 ]; then exit 0; fi
trap 'echo; stop_stack; exit 0' INT TERM
echo "(Ctrl-C stops it)"
while true; do sleep 3600 & wait $!; done
