#!/usr/bin/env bash
# TensorFlow checkpoints → orqa, end to end. The fixture model is written as the
# released TF checkpoints (the reference's variable names and [in, out] kernels,
# optimizer slots, global_step); `orqa convert` turns them back into model
# directories, which must pass the model parity suite and serve the golden
# answers; the services must also serve the TF checkpoints directly (converted
# in memory); bad checkpoints must fail naming what is wrong.
# Needs BUILD_DIR; reads $ORQA_FIXTURES (default <shared>/fixtures/realm-tiny).
set -euo pipefail

BIN=${BUILD_DIR:?BUILD_DIR must name the build directory}/bin
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${ORQA_SHARED_DIR:-$REPO/../shared}
FX=$(cd "${ORQA_FIXTURES:-$SHARED/fixtures/realm-tiny}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/orqa-tf-convert.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_line FILE REGEX: the file has a line matching REGEX (extended).
expect_line() { grep -Eq -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks a line matching: $2"; }; }
convert() { "$BIN/orqa" convert --config "$FX/config.json" --vocab "$FX/vocab.txt" "$@"; }

eval "$("$BIN/make_tf_checkpoints" --fixtures "$FX" --out "$WORK/tf")"

echo "== orqa convert: the finetuned ORQA checkpoint + encoded.ckpt -> RealmForOpenQA"
convert --from "$FINETUNED" --from "$ENCODED" --kind openqa --out "$WORK/openqa" > "$WORK/openqa.log"
expect_line "$WORK/openqa.log" '^  transposed  reader/dense/kernel \[[0-9]+, [0-9]+\] -> reader\.qa_outputs\.dense_intermediate\.weight \(\[in, out\] -> \[out, in\]\)$'
expect_line "$WORK/openqa.log" '^  mapped      module/module/module/module/bert/embeddings/word_embeddings \[[0-9]+, [0-9]+\] -> embedder\.realm\.embeddings\.word_embeddings\.weight$'
expect_line "$WORK/openqa.log" '^  mapped      block_emb \[[0-9]+, [0-9]+\] -> block_emb$'
expect_line "$WORK/openqa.log" '^  skipped     reader/dense/kernel/adam_m \[[0-9]+, [0-9]+\] \(optimizer slot\)$'
expect_line "$WORK/openqa.log" '^  skipped     global_step \[\] \(training step counter\)$'
expect_line "$WORK/openqa.log" '^  alias       reader\.cls\.predictions\.decoder\.weight = reader\.realm\.embeddings\.word_embeddings\.weight$'
expect_line "$WORK/openqa.log" "^wrote $WORK/openqa: RealmForOpenQA, [0-9]+ tensors .* 0 initialised$"
[[ -f "$WORK/openqa/config.json" && -f "$WORK/openqa/vocab.txt" && -f "$WORK/openqa/model.safetensors" ]] ||
  fail "the model directory lacks config.json, vocab.txt or model.safetensors"

echo "== checkpoint directories stand for their latest prefix (encoded/checkpoint names another machine's path)"
convert --from "$(dirname "$FINETUNED")" --from "$(dirname "$ENCODED")" --kind openqa --out "$WORK/openqa-by-dir" --quiet \
  > "$WORK/openqa-by-dir.log"
# The tensors (the bytes after the JSON header, whose metadata names the sources) are the same.
st_body() { tail -c +$((9 + $(od -An -t u8 -N8 "$1"))) "$1"; }
cmp <(st_body "$WORK/openqa/model.safetensors") <(st_body "$WORK/openqa-by-dir/model.safetensors") ||
  fail "convert --from DIR differs from --from PREFIX"
"$BIN/orqa" import-embeddings --from "$(dirname "$ENCODED")" --out "$WORK/by-dir.npy" > /dev/null
"$BIN/orqa" import-embeddings --from "$ENCODED" --out "$WORK/by-prefix.npy" > /dev/null
cmp "$WORK/by-dir.npy" "$WORK/by-prefix.npy" || fail "import-embeddings --from DIR differs from --from PREFIX"

echo "== orqa convert: the pre-trained BERT -> the knowledge-augmented encoder"
convert --from "$BERT" --kind encoder --out "$WORK/encoder" --quiet > "$WORK/encoder.log"
expect_line "$WORK/encoder.log" "^wrote $WORK/encoder: RealmKnowledgeAugEncoder, "

echo "== the parity suite on the converted weights"
mkdir "$WORK/fixture"
for f in "$FX"/*; do ln -s "$f" "$WORK/fixture/"; done
ln -sf "$WORK/openqa/model.safetensors" "$WORK/fixture/realm_for_open_qa.safetensors"
ln -sf "$WORK/encoder/model.safetensors" "$WORK/fixture/realm_knowledge_aug_encoder.safetensors"
# PytorchBinLoadsTheSameWeights compares the fixture's own .bin with its
# safetensors key by key; the MLM decoders of the .bin are untied random
# weights no TF checkpoint holds (TF ties them), so that file test is left out.
ORQA_FIXTURES="$WORK/fixture" "$BIN/model_parity_test" --gtest_brief=1 \
  --gtest_filter='-ModelParity.PytorchBinLoadsTheSameWeights' || fail "parity suite on converted weights"

echo "== the golden answers end to end from the converted model"
ORQA_FIXTURES="$WORK/fixture" "$BIN/answer_test" --gtest_brief=1 || fail "answer suite on converted weights"

echo "== the golden answers end to end from the TF checkpoints themselves (--weights PREFIX)"
ORQA_TEST_WEIGHTS="$FINETUNED" ORQA_TEST_EMBEDDINGS="$ENCODED" "$BIN/answer_test" --gtest_brief=1 \
  --gtest_filter='AnswerTest.EveryFixtureQuestion*:AnswerTest.BatchAnswer*:AnswerTest.DeployTakesWeights*' || fail "answer suite on TF checkpoints"

echo "== bad checkpoints fail naming what is wrong, and write nothing"
expect_failure() {  # NAME REGEX ARGS...: exit status non-zero, stderr matches, no --out left
  local name=$1 regex=$2
  shift 2
  if convert "$@" --out "$WORK/bad-$name" > "$WORK/bad-$name.out" 2> "$WORK/bad-$name.err"; then
    fail "$name: convert succeeded"
  fi
  expect_line "$WORK/bad-$name.err" "$regex"
  [[ ! -e "$WORK/bad-$name" && ! -e "$WORK/bad-$name.tmp" ]] || fail "$name: left a model directory behind"
}
eval "$("$BIN/make_tf_checkpoints" --fixtures "$FX" --out "$WORK/renamed" --rename reader/dense/kernel=reader/dense/kernal | sed 's/^/RENAMED_/')"
expect_failure renamed "cannot place TF variable 'reader/dense/kernal': it maps to 'reader\.qa_outputs\.dense_intermediate\.kernal'" \
  --from "$RENAMED_FINETUNED" --kind openqa
eval "$("$BIN/make_tf_checkpoints" --fixtures "$FX" --out "$WORK/narrow" --narrow-kernel reader/dense_1/kernel | sed 's/^/NARROW_/')"
expect_failure narrow "TF variable 'reader/dense_1/kernel' has shape \[[0-9]+, 0\] \(a kernel, stored \[in, out\]\); 'reader\.qa_outputs\.dense_output\.weight' of this config needs \[1, [0-9]+\]" \
  --from "$NARROW_FINETUNED" --kind openqa
expect_failure slots "$SLOTS: holds no weight of a RealmForOpenQA: its 3 variables are all skipped \(2 optimizer slot, 1 training step counter\)" \
  --from "$SLOTS" --kind openqa
expect_failure incomplete "a RealmForOpenQA needs [0-9]+ weights no checkpoint holds: reader\.qa_outputs\." \
  --from "$BERT" --from "$EMBEDDER" --kind openqa
expect_failure kind "--kind 'bert' is not one of embedder, reader, encoder, scorer, openqa" --from "$BERT" --kind bert
if convert --from "$BERT" --kind encoder --out "$WORK/encoder" 2> "$WORK/exists.err"; then fail "converted over an existing directory"; fi
expect_line "$WORK/exists.err" "$WORK/encoder: already exists"

echo "PASS: TF checkpoints convert to the fixture model and serve its golden answers"
