#!/usr/bin/env bash
# Trains a REALM/ORQA model from nothing on the SQuAD-open corpus with orqa's
# own trainer service, driven through the gateway's Admin API (`orqa jobs`):
#   block store → init-model → PRETRAIN_MLM → PRETRAIN_ICT → BUILD_INDEX →
#   [PRETRAIN_REALM with asynchronous index refresh → BUILD_INDEX] →
#   TRAIN_READER (qa-train, BM25 answer passages) → FINETUNE (qa-train) →
#   Deploy → `orqa eval` on qa-dev
# (dense, BM25 and hybrid retrieval) and prints one table. The steps of each
# stage scale with --budget-minutes (the training time on this 2-core machine,
# from rates measured for each model size: small = 4 layers × 256 hidden,
# tiny = 2 × 128). --baseline also scores the untrained model the same way.
# --realm-minutes M adds M minutes of REALM pre-training (salient-span masked
# LM through retrieval, the index refreshed every --realm-refresh steps) after ICT.
# The reader marks block words found in the question (init-model --question-match,
# the exact-match input feature of DrQA-style readers); --no-question-match trains
# the plain REALM reader instead. It also marks the other block words' shape (init-model
# --word-shape: holds a digit, capitalised); --no-word-shape leaves that out.
# Both encoders' word embeddings start from count-based word vectors (PPMI + SVD over the
# blocks, the training questions and wikitext-2 where the data's folder has it beside it; seconds);
# --no-word-vectors starts them from random weights.
#
# Usage: scripts/train-squad-open.sh [--budget-minutes N] [--size small|tiny] [--out DIR] [--data DIR]
#        [--vocab FILE] [--eval-limit N] [--threads N] [--baseline] [--keep-running]
#        [--realm-minutes M] [--realm-refresh STEPS] [--no-question-match] [--no-word-shape]
#        [--no-word-vectors]
# env:   BUILD_DIR, ORQA_SHARED_DIR, BASE_PORT (default 63000)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
source "$ROOT/scripts/fusion.sh"
BUDGET=60
OUT="$ROOT/build/squad-open-model"
DATA="$SHARED/data/squad-v1.1-dev-open"
EVAL_LIMIT=0
THREADS=2
KEEP=0
VOCAB=""
SIZE=small
BASELINE=0
REALM_MINUTES=0
REALM_REFRESH=20
QUESTION_MATCH=(--question-match)
WORD_SHAPE=(--word-shape)
WORD_VECTORS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --budget-minutes) BUDGET="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --vocab) VOCAB="$2"; shift 2 ;;
    --eval-limit) EVAL_LIMIT="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --keep-running) KEEP=1; shift ;;
    --size) SIZE="$2"; shift 2 ;;
    --baseline) BASELINE=1; shift ;;
    --realm-minutes) REALM_MINUTES="$2"; shift 2 ;;
    --realm-refresh) REALM_REFRESH="$2"; shift 2 ;;
    --no-question-match) QUESTION_MATCH=(); shift ;;
    --no-word-shape) WORD_SHAPE=(); shift ;;
    --no-word-vectors) WORD_VECTORS=0; shift ;;
    -h|--help) sed -n 2,26p "$0"; exit 0 ;;
    *) echo "train-squad-open.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$VOCAB" ] || VOCAB="$DATA/vocab.txt"
[ -f "$VOCAB" ] || VOCAB="$SHARED/fixtures/realm-tiny/vocab.txt"
for f in "$DATA/blocks.jsonl" "$DATA/qa-train.jsonl" "$DATA/qa-dev.jsonl" "$VOCAB"; do
  [ -r "$f" ] || { echo "train-squad-open.sh: error: cannot read $f" >&2; exit 2; }
done
case "$SIZE" in
  small) MODEL_ARGS=(--hidden-size 256 --layers 4 --heads 4 --intermediate-size 1024); RATES=(24 15 2.2 0.7 4) ;;
  tiny) MODEL_ARGS=(--hidden-size 128 --layers 2 --heads 2 --intermediate-size 512); RATES=(70 45 8 2.3 17) ;;
  *) echo "train-squad-open.sh: error: --size: expected small or tiny, got '$SIZE'" >&2; exit 2 ;;
esac
PORT="${BASE_PORT:-63000}"
GW=127.0.0.1:$PORT
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOGS="$OUT/logs"
mkdir -p "$LOGS"
export ORQA_ADMIN_TOKEN="train-$RANDOM$RANDOM"
PIDS=()
cleanup() {
  [ "$KEEP" = 1 ] && return 0
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_serving() {  # address what
  for _ in $(seq 1 600); do
    "$BIN/orqa" health "$1" --timeout-ms 500 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "train-squad-open.sh: error: $2 at $1 never became SERVING (logs in $LOGS)" >&2
  exit 1
}

# Steps per stage from the budget: shares of the time and measured rates
# (examples/s on 2 cores, RATES: MLM sequences, ICT examples, finetune questions,
# REALM sentences: tiny measured with the index refreshing every 10 steps beside it,
# small estimated from the finetune ratio; reader questions at 2 passages each).
# The reader gets the largest share: a model this small learns retrieval from
# ICT quickly, but picking the answer span takes it thousands of questions.
steps() {  # share rate batch
  python3 -c "import sys; b,s,r,n=map(float,sys.argv[1:]); print(max(2, int(b*60*s*r/n)))" "$BUDGET" "$1" "$2" "$3"
}
# ICT gets a larger share than the reader's finetuning: from word vectors and masked LM its
# loss still falls at the end of its share (30-minute tiny run: 1.4 at step 63, 0.8 at 379).
# Masked LM is not cut for it: after half the MLM steps, ICT started at 3.4 instead of 2.3.
MLM_STEPS=$(steps 0.20 "${RATES[0]}" 32)
ICT_STEPS=$(steps 0.25 "${RATES[1]}" 32)
READER_STEPS=$(steps 0.40 "${RATES[4]}" 16)
FT_STEPS=$(steps 0.07 "${RATES[2]}" 8)
REALM_STEPS=$(python3 -c "import sys; m,r=map(float,sys.argv[1:]); print(int(m*60*r/8))" "$REALM_MINUTES" "${RATES[3]}")

stage_seconds() { cat "$OUT/.seconds-$1" 2>/dev/null || echo -; }
stage() {  # name, then the `orqa jobs start` arguments; prints the job's best/latest checkpoint
  local name=$1
  shift
  local t0 id
  t0=$(date +%s)
  id=$("$BIN/orqa" jobs start --gateway $GW --json "$@" | python3 -c 'import sys, json; print(json.load(sys.stdin)["job_id"])')
  echo "[$name] job $id (every step: $LOGS/$name.log)" >&2
  "$BIN/orqa" jobs watch "$id" --gateway $GW --log "$LOGS/$name.log" >&2 || {
    echo "train-squad-open.sh: error: stage $name failed:" >&2
    "$BIN/orqa" jobs get "$id" --gateway $GW >&2
    exit 1
  }
  echo $(( $(date +%s) - t0 )) > "$OUT/.seconds-$name"
  echo "$id"
}
ckpt_of() {
  "$BIN/orqa" jobs get "$1" --gateway $GW --json |
    python3 -c 'import sys, json; j = json.load(sys.stdin); print(j.get("best_checkpoint_dir") or j.get("checkpoint_dir"))'
}

# 0. The corpus, a fresh model, and the services (retriever and reader come once there is an index).
"$BIN/orqa" build-blocks --from "$DATA/blocks.jsonl" --out "$OUT/blocks.store" >"$LOGS/build-blocks.log" 2>&1
"$BIN/orqa" build-bm25 --blocks "$OUT/blocks.store" --out "$OUT/bm25" >"$LOGS/build-bm25.log" 2>&1
# Finetuning keeps its last 300 training questions aside to pick the best checkpoint (qa-dev stays unseen).
head -n -300 "$DATA/qa-train.jsonl" > "$OUT/train.jsonl"
tail -n 300 "$DATA/qa-train.jsonl" > "$OUT/heldout.jsonl"
WV=()
if [ "$WORD_VECTORS" = 1 ]; then
  TEXT="$DATA/blocks.jsonl,$OUT/train.jsonl"
  for f in "$DATA/../wikitext-2/valid.txt" "$DATA/../wikitext-2/test.txt"; do [ -r "$f" ] && TEXT="$TEXT,$f"; done
  WV=(--word-vectors "$TEXT")
fi
[ -d "$OUT/init" ] || "$BIN/orqa" init-model --out "$OUT/init" --vocab "$VOCAB" "${MODEL_ARGS[@]}" \
  --proj-size 128 --reader-seq-len 288 --reader-beam 5 --searcher-beam 100 --seed 1 "${QUESTION_MATCH[@]}" "${WORD_SHAPE[@]}" "${WV[@]}" >&2
"$BIN/orqa-trainer" --grpc-port=$((PORT + 3)) --metrics-port=0 --state-dir="$OUT/trainer-state" \
  --retriever=127.0.0.1:$((PORT + 1)) --threads="$THREADS" 2>"$LOGS/trainer.log" & PIDS+=($!)
"$BIN/orqa-gateway" --grpc-port=$PORT --metrics-port=0 --retrievers=127.0.0.1:$((PORT + 1)) \
  --reader=127.0.0.1:$((PORT + 2)) --trainer=127.0.0.1:$((PORT + 3)) --admin-token="$ORQA_ADMIN_TOKEN" \
  2>"$LOGS/gateway.log" & PIDS+=($!)
wait_serving 127.0.0.1:$((PORT + 3)) orqa-trainer

# 1. Masked LM over the blocks: warm-starts both encoders.
MLM=$(stage mlm --kind mlm --model-dir "$OUT/init" --blocks "$OUT/blocks.store" --output-dir "$OUT/mlm" \
  --num-steps "$MLM_STEPS" --batch-size 32 --learning-rate 5e-4 --warmup-steps $((MLM_STEPS / 10)) --weight-decay 0.01 \
  --max-grad-norm 1 --keep-checkpoints 1)
# 2. Inverse cloze task: the retriever learns to find a sentence's block.
ICT=$(stage ict --kind ict --model-dir "$(ckpt_of "$MLM")" --blocks "$OUT/blocks.store" --output-dir "$OUT/ict" \
  --num-steps "$ICT_STEPS" --batch-size 32 --learning-rate 5e-4 --warmup-steps $((ICT_STEPS / 10)) --max-grad-norm 1 \
  --max-seq-length 192 --keep-checkpoints 1)
ICT_DIR=$(ckpt_of "$ICT")
# 3. The index: every block embedded with the ICT embedder.
INDEX=$(stage index --kind build-index --model-dir "$ICT_DIR" --blocks "$OUT/blocks.store" --embeddings "$OUT/blocks.npy" \
  --batch-size 32)
"$BIN/orqa-retriever" --grpc-port=$((PORT + 1)) --metrics-port=0 --model-dir="$ICT_DIR" --blocks="$OUT/blocks.store" \
  --embeddings="$OUT/blocks.npy" --bm25-index="$OUT/bm25" 2>"$LOGS/retriever.log" & PIDS+=($!)
"$BIN/orqa-reader" --grpc-port=$((PORT + 2)) --metrics-port=0 --model-dir="$ICT_DIR" 2>"$LOGS/reader.log" & PIDS+=($!)
wait_serving $GW orqa-gateway
START_DIR="$ICT_DIR"
if [ "$REALM_STEPS" -gt 0 ]; then
  # 3b. REALM: salient spans predicted through retrieved blocks; the retriever's index is
  #     rebuilt from the current embedder every REALM_REFRESH steps beside training.
  REALM=$(stage realm --kind realm --model-dir "$ICT_DIR" --blocks "$OUT/blocks.store" --output-dir "$OUT/realm" \
    --num-steps "$REALM_STEPS" --batch-size 8 --learning-rate 1e-4 --warmup-steps $((REALM_STEPS / 10)) \
    --max-grad-norm 1 --searcher-beam 8 --index-refresh "$REALM_REFRESH" --max-seq-length 256 \
    --max-block-length 192 --keep-checkpoints 1)
  START_DIR=$(ckpt_of "$REALM")
  "$BIN/orqa" jobs get "$REALM" --gateway $GW --json > "$OUT/realm-job.json"
  # The final index: every block embedded with the final REALM embedder.
  stage realm-index --kind build-index --model-dir "$START_DIR" --blocks "$OUT/blocks.store" \
    --embeddings "$OUT/blocks.npy" --batch-size 32 --reload >/dev/null
fi
# 4. The reader alone, on the BM25 passage holding each training question's answer and
#    one passage without (a row per passage, many questions per pass); half the questions
#    are cloze questions made from the corpus (a salient span of a sentence asked for).
READER=$(stage reader --kind reader --model-dir "$START_DIR" --train "$OUT/train.jsonl" --eval "$OUT/heldout.jsonl" \
  --blocks "$OUT/blocks.store" --cloze-share 0.5 \
  --output-dir "$OUT/reader" --num-steps "$READER_STEPS" --batch-size 16 --learning-rate 1e-3 \
  --warmup-steps $((READER_STEPS / 10)) --max-grad-norm 1 --eval-every $((READER_STEPS / 3 > 0 ? READER_STEPS / 3 : 1)) \
  --searcher-beam 20 --finetune-retrieval sparse --reader-passages 2 --eval-limit 150 --keep-checkpoints 1)
# 5. ORQA finetuning on the training questions: reader and question embedder together over
#    the reader beam. The candidates come from BM25 (the small ICT retriever finds too few
#    answer blocks for the reader to learn from); the retrieval loss teaches the question
#    embedder to rank them.
FT=$(stage finetune --model-dir "$(ckpt_of "$READER")" --train "$OUT/train.jsonl" --eval "$OUT/heldout.jsonl" \
  --output-dir "$OUT/finetune" --num-steps "$FT_STEPS" --batch-size 8 --learning-rate 1e-4 \
  --warmup-steps $((FT_STEPS / 10)) --max-grad-norm 1 --eval-every $((FT_STEPS / 2 > 0 ? FT_STEPS / 2 : 1)) \
  --searcher-beam 20 --finetune-retrieval sparse --eval-limit 150 --keep-checkpoints 1)
# 6. Deploy the best checkpoint and evaluate on qa-dev through the gateway.
"$BIN/orqa" jobs deploy "$FT" --gateway $GW >&2
FINAL=$(ckpt_of "$FT")
rm -rf "$OUT/model" && cp -r "$FINAL" "$OUT/model" && rm -f "$OUT/model/training_state.safetensors"
cp "$OUT/blocks.npy" "$OUT/model/blocks.npy"
LIMIT=()
[ "$EVAL_LIMIT" -gt 0 ] && LIMIT=(--limit "$EVAL_LIMIT")
# Hybrid fusion, chosen on the held-out training questions (top-1 match of the fused list):
# reciprocal rank fusion or weighted score fusion with one of a few dense weights. A second
# gateway with the chosen fusion answers the hybrid evaluations.
EVAL_GW=127.0.0.1:$((PORT + 4))
start_eval_gateway() {  # fusion (rrf or a dense weight); sets EVAL_PID
  fusion_flags "$1"
  local fusion=("${FUSION_FLAGS[@]}")
  "$BIN/orqa-gateway" --grpc-port=$((PORT + 4)) --metrics-port=0 --retrievers=127.0.0.1:$((PORT + 1)) \
    --reader=127.0.0.1:$((PORT + 2)) "${fusion[@]}" 2>>"$LOGS/eval-gateway.log" &
  EVAL_PID=$!
  wait_serving $EVAL_GW orqa-gateway
}
best_fusion=""
best_top1=-1
for f in rrf 0.1 0.2 0.3 0.5; do
  start_eval_gateway "$f"
  "$BIN/orqa" eval --gateway $EVAL_GW --data "$OUT/heldout.jsonl" --model-dir "$OUT/model" --k 20 --read-k 1 \
    --top-k 1 --retrieval hybrid --concurrency 4 --summary "$OUT/fusion-$f.json" >/dev/null 2>&1
  kill -TERM $EVAL_PID && wait $EVAL_PID 2>/dev/null || true
  top1=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["metrics"]["top_1_match"])' "$OUT/fusion-$f.json")
  echo "hybrid fusion $f: held-out top-1 match $top1" >&2
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$top1" "$best_top1"; then
    best_fusion=$f
    best_top1=$top1
  fi
done
echo "$best_fusion" > "$OUT/fusion.txt"
start_eval_gateway "$best_fusion"
PIDS+=($EVAL_PID)
evaluate() {  # label model_dir
  for mode in dense sparse hybrid; do
    local gw=$GW
    [ "$mode" = hybrid ] && gw=$EVAL_GW
    "$BIN/orqa" eval --gateway $gw --data "$DATA/qa-dev.jsonl" --model-dir "$2" --k 100 --read-k 5 \
      --retrieval $mode --concurrency 4 "${LIMIT[@]}" --summary "$OUT/eval-$1-$mode.json" \
      --predictions "$OUT/predictions-$1-$mode.jsonl" >&2
  done
}
t0=$(date +%s)
evaluate trained "$OUT/model"
echo $(( $(date +%s) - t0 )) > "$OUT/.seconds-eval"
if [ "$BASELINE" = 1 ]; then
  # The untrained model, served and scored the same way (its own index).
  stage baseline-index --kind build-index --model-dir "$OUT/init" --blocks "$OUT/blocks.store" \
    --embeddings "$OUT/blocks-init.npy" --batch-size 32 --reload >/dev/null
  "$BIN/orqa" jobs deploy --checkpoint "$OUT/init" --gateway $GW >&2
  evaluate untrained "$OUT/init"
  "$BIN/orqa" jobs deploy "$FT" --gateway $GW >&2
  stage restore-index --kind build-index --model-dir "$FINAL" --blocks "$OUT/blocks.store" \
    --embeddings "$OUT/blocks.npy" --batch-size 32 --reload >/dev/null
fi

echo
echo "SQuAD-open from nothing: model $SIZE, budget $BUDGET min, trainer threads $THREADS"
printf "%-10s %8s %10s\n" stage steps seconds
printf "%-10s %8s %10s\n" mlm "$MLM_STEPS" "$(stage_seconds mlm)"
printf "%-10s %8s %10s\n" ict "$ICT_STEPS" "$(stage_seconds ict)"
printf "%-10s %8s %10s\n" index - "$(stage_seconds index)"
if [ "$REALM_STEPS" -gt 0 ]; then
  printf "%-10s %8s %10s\n" realm "$REALM_STEPS" "$(stage_seconds realm)"
  printf "%-10s %8s %10s\n" realm-index - "$(stage_seconds realm-index)"
  python3 - "$OUT/realm-job.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1])).get("history", [])
m = [p.get("metrics", {}) for p in h]
stale = [x["index_staleness_steps"] for x in m if "index_staleness_steps" in x]
secs = sorted({x["index_refresh_seconds"] for x in m if x.get("index_refresh_seconds", 0) > 0})
n = max([x.get("index_refreshes", 0) for x in m] or [0])
first = sum(p["loss"] for p in h[:10]) / max(1, len(h[:10]))
last = sum(p["loss"] for p in h[-10:]) / max(1, len(h[-10:]))
print("realm: loss %.2f -> %.2f (first/last 10 steps); %d index refreshes, %s s each; staleness mean %.1f, max %d steps"
      % (first, last, n, "/".join("%.0f" % s for s in secs) or "-", sum(stale) / max(1, len(stale)), max(stale or [0])))
PY
fi
printf "%-10s %8s %10s\n" reader "$READER_STEPS" "$(stage_seconds reader)"
printf "%-10s %8s %10s\n" finetune "$FT_STEPS" "$(stage_seconds finetune)"
printf "%-10s %8s %10s\n" eval - "$(stage_seconds eval)"
python3 - "$OUT" "$BASELINE" <<'PY'
import json, os, sys
out, baseline = sys.argv[1], sys.argv[2] == "1"
models = ["trained"] + (["untrained"] if baseline else [])
rows = [("top_1_match", "top-1 match"), ("top_5_match", "top-5 match"), ("top_20_match", "top-20 match"),
        ("top_100_match", "top-100 match"), ("recall_at_1", "gold block @1"), ("recall_at_20", "gold block @20"),
        ("reader_oracle", "reader oracle"), ("exact_match", "exact match"), ("official_exact_match", "official EM")]
cols = [(m, mode) for m in models for mode in ("dense", "sparse", "hybrid")]
s = {c: json.load(open(os.path.join(out, "eval-%s-%s.json" % c))) for c in cols}
n = s[cols[0]]["questions"]
print("qa-dev, %d questions; k = 100 retrieved, the reader reads 5; hybrid fusion %s (picked on the held-out training questions)"
      % (n, open(os.path.join(out, "fusion.txt")).read().strip()))
print("%-16s" % "" + "".join("%18s" % ("%s %s" % c) for c in cols))
for key, label in rows:
    print("%-16s" % label + "".join("%17.1f%%" % (100 * s[c]["metrics"].get(key, 0)) for c in cols))
print("%-16s" % "p50 latency ms" + "".join("%18.0f" % s[c]["latency_ms"]["p50"] for c in cols))
PY
echo "model: $OUT/model (with blocks.npy); blocks: $OUT/blocks.store"
