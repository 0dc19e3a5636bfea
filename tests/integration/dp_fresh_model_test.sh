#!/usr/bin/env bash
# Data parallelism on a model configuration the suite was not tuned on, from a
# model without masked-LM heads: `orqa init-model` (3 layers x 48, gelu_new),
# the realm-tiny fixture's blocks and questions, random block embeddings. Runs
# TrainerTest.TwoDataParallelRanksEqualOneTrainerAndALostRankIsNamed on it
# (ORQA_FIXTURES): every job kind's two ranks must equal one trainer within the
# test's bounds (a fresh head drawn from the process's generator differed per
# rank: the masked-LM losses differed from the first step).
# env: BUILD_DIR (default build), ORQA_SHARED_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
TINY="$SHARED/fixtures/realm-tiny"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/orqa-dp-fresh.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
"$BIN/orqa" init-model --out "$WORK/model" --vocab "$TINY/vocab.txt" --hidden-size 48 --layers 3 --heads 4 \
  --intermediate-size 96 --proj-size 16 --span-hidden-size 24 --reader-seq-len 64 --reader-beam 3 \
  --searcher-beam 6 --max-position 128 --hidden-act gelu_new --seed 3 > "$WORK/init.log"
mkdir "$WORK/fixture"
cp "$WORK/model/config.json" "$WORK/model/vocab.txt" "$TINY/goldens.json" "$WORK/fixture/"
# The fixture layout: one RealmForOpenQA file that also holds block_emb.
python3 - "$WORK/model/model.safetensors" "$WORK/fixture" <<'PY'
import json, random, struct, sys
src, out = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
blocks = len(json.load(open(out + "/goldens.json"))["blocks"])
dim = json.load(open(out + "/config.json"))["retriever_proj_size"]
random.seed(5)
emb = struct.pack("<%df" % (blocks * dim), *[random.gauss(0, 1) for _ in range(blocks * dim)])
header["block_emb"] = {"dtype": "F32", "shape": [blocks, dim], "data_offsets": [len(data), len(data) + len(emb)]}
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(out + "/realm_for_open_qa.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data + emb)
PY
ORQA_FIXTURES="$WORK/fixture" "$BIN/trainer_test" --gtest_filter='*TwoDataParallel*'
