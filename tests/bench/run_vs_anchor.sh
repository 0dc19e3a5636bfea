#!/usr/bin/env bash
# orqa against the eager-PyTorch anchor (../shared/anchors/py_realm_bench.py) in
# one run, on the same shapes: BERT-base (gelu_new), a 16-wordpiece question,
# 5 reader rows of 288 tokens (question + 269-token block + 3 specials), top 5
# of N random 128-d block embeddings. Per stage (embed, retrieve, read) and in
# total, at each thread count, orqa at fp32, bf16 and int8, and the ratio
# anchor / orqa. orqa's stages come from model_bench (the served modules) and
# retriever_bench (FAISS IndexFlatIP, batch 1, k 5).
# Installs Debian's python3-torch for the anchor if it is missing (this script
# only; the project itself never needs Python).
# env: BUILD_DIR, ORQA_SHARED_DIR, BLOCKS (default 1000000; e.g. 1000000,13353718),
#      THREADS (default 1,2), QUESTIONS (anchor questions and orqa iterations, default 5)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
BLOCKS="${BLOCKS:-1000000}"
THREADS="${THREADS:-1,2}"
QUESTIONS="${QUESTIONS:-5}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/orqa-vs-anchor.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch for the anchor (Debian package)..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch > "$WORK/apt.log" 2>&1 ||
    { cat "$WORK/apt.log" >&2; exit 1; }
fi

echo "anchor: py_realm_bench.py --blocks $BLOCKS --threads $THREADS --questions $QUESTIONS" >&2
/usr/bin/python3 "$SHARED/anchors/py_realm_bench.py" --blocks "$BLOCKS" --threads "$THREADS" \
  --questions "$QUESTIONS" --warmup 1 --question-len 16 --block-len 269 --json "$WORK/anchor.json" > "$WORK/anchor.log"

# orqa: stage medians per (threads, precision) and search per (threads, blocks).
for t in ${THREADS//,/ }; do
  for p in fp32 bf16 int8; do
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$BIN/model_bench" --threads "$t" --iters "$QUESTIONS" --precision "$p" \
      > "$WORK/model-$t-$p.txt"
  done
  for n in ${BLOCKS//,/ }; do
    "$BIN/retriever_bench" --rows "$n" --types flat --ks 5 --batches 1 --threads "$t" > "$WORK/search-$t-$n.txt"
  done
done

/usr/bin/python3 - "$WORK" "$THREADS" "$BLOCKS" <<'EOF'
import json, re, sys
work, threads, blocks = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
anchor = json.load(open(f"{work}/anchor.json"))
rows = {(r["threads"], r["blocks"]): r["median_ms"] for r in anchor["rows"]}

def model(t, p):
    text = open(f"{work}/model-{t}-{p}.txt").read()
    embed = float(re.search(r"1 question x 16 tokens\s+([\d.]+)", text).group(1))
    read = float(re.search(r"5 blocks x 288 tokens\s+([\d.]+)", text).group(1))
    return embed, read

def search(t, n):
    for line in open(f"{work}/search-{t}-{n}.txt"):
        f = line.split()
        if f and f[0] == "flat" and len(f) > 4 and f[2] == "1" and f[3] == "5":
            return float(f[4])
    raise SystemExit(f"no flat batch-1 k-5 line in search-{t}-{n}.txt")

print(f"orqa vs the eager anchor, same run, {anchor['machine'].get('cpu', '?')}, "
      f"{anchor['machine']['nproc']} CPUs; medians in ms; ratio = anchor / orqa")
print(f"{'threads':>7} {'blocks':>9} {'who':>12} | {'embed':>8} {'retrieve':>9} {'read':>8} {'total':>8} | "
      f"{'embed x':>7} {'retr x':>7} {'read x':>7} {'total x':>7}")
for t in threads:
    for n in blocks:
        a = rows[(int(t), int(n))]
        a_read = a["reader"] + a["span"]  # the anchor's span scorer is part of orqa's reader forward
        a_total = a["total"]
        print(f"{t:>7} {n:>9} {'anchor':>12} | {a['embed']:8.1f} {a['retrieve']:9.1f} {a_read:8.1f} {a_total:8.1f} |")
        s = search(t, n)
        for p in ("fp32", "bf16", "int8"):
            e, r = model(t, p)
            total = e + s + r
            print(f"{t:>7} {n:>9} {'orqa ' + p:>12} | {e:8.1f} {s:9.1f} {r:8.1f} {total:8.1f} | "
                  f"{a['embed'] / e:7.2f} {a['retrieve'] / s:7.2f} {a_read / r:7.2f} {a_total / total:7.2f}")
EOF
