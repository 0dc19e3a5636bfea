#!/usr/bin/env bash
# The released REALM/ORQA model at full size through the one command (not a
# test): a Hub repo shaped as google/realm-orqa-nq-openqa — block_records.npy
# with 13,353,718 byte strings written by numpy's np.save (~12.6 GB) and a
# pytorch_model.bin with RealmForOpenQA's keys (random BERT-base weights from
# make_random_model) plus block_emb [13353718, 128] written by torch.save
# (~7.9 GB, zip64) — is served on 127.0.0.1 by tests/servers/fake_hub.py and
# taken through `scripts/quickstart.sh --model <id>`: pull, prepare (block
# store, embeddings), serve, answer. Prints the pull rate over loopback, the
# preparation time and the retriever's peak RSS, the time to SERVING, each
# service's RSS, Answer p50 / p99 (200 NQ-open questions, k = 5), and disk used.
# Needs Debian's python3-numpy and python3-torch (/usr/bin/python3) and ~55 GB
# of free disk under WORK_DIR: the source files (kept for the next run), the
# Hugging Face cache and the prepared block store.
# env: BUILD_DIR, ORQA_SHARED_DIR, WORK_DIR (default /tmp/orqa-full), BLOCKS
#      (default 13353718), PORT_BASE (default 61000), KEEP=1 keeps the stack up
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
WORK="${WORK_DIR:-/tmp/orqa-full}"
N="${BLOCKS:-13353718}"
PORT_BASE="${PORT_BASE:-61000}"
PY=/usr/bin/python3
REPO_ID=google/realm-orqa-nq-openqa
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then XDG_CACHE_HOME="$WORK/xdg" bash "$ROOT/scripts/quickstart.sh" stop > /dev/null 2>&1 || true; fi
}
trap cleanup EXIT
$PY -c "import numpy, torch" || { echo "needs python3-numpy and python3-torch (apt install)"; exit 1; }
mkdir -p "$WORK/repo"
now() { date +%s.%N; }
secs() { $PY -c "print('%.1f' % ($2 - $1))"; }
gb() { $PY -c "print('%.2f GB' % ($1 / 1e9))"; }
rss_of() {  # resident: anonymous (the process's own) + file-backed (mapped files, reclaimable)
  awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {printf "%.2f GB own + %.2f GB of mapped files", a / 1048576, f / 1048576}' \
    "/proc/$1/status" 2>/dev/null || echo "?"
}
hwm_of() { awk '/^VmHWM/ {printf "%.2f GB", $2 / 1048576}' "/proc/$1/status" 2>/dev/null || echo "?"; }
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) CPUs; $(grep -o 'avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "orqa at full size: $N blocks; $CPU"

# 1. The repo's files, written by numpy and torch as the released ones were (each kept for the next run).
t0=$(now)
if [ ! -s "$WORK/repo/config.json" ] || [ ! -s "$WORK/repo/pytorch_model.bin.done" ]; then
  mkdir -p "$WORK/model"
  "$BIN/make_random_model" --out "$WORK/model" --vocab "$SHARED/fixtures/realm-tiny/vocab.txt" --blocks 1 > /dev/null
  cp "$WORK/model/vocab.txt" "$WORK/repo/vocab.txt"
  $PY - "$WORK/model" "$WORK/repo" "$N" <<'PY'
import json, os, struct, sys, time
import torch
model, repo, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = json.load(open(model + "/config.json"))
cfg.update({"architectures": ["RealmForOpenQA"], "num_block_records": n, "searcher_beam_size": 5000,
            "vocab_size": 30522, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "reader_layer_norm_eps": 1e-3})
json.dump(cfg, open(repo + "/config.json", "w"), indent=2)
json.dump({"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "RealmTokenizer"},
          open(repo + "/tokenizer_config.json", "w"))
json.dump({"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
           "unk_token": "[UNK]"}, open(repo + "/special_tokens_map.json", "w"))
# The random BERT-base weights plus block_emb, by torch.save (zip64 past 4 GB).
t = time.time()
with open(model + "/model.safetensors", "rb") as f:
    hlen = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(hlen))
    body = f.read()
kinds = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64, "BF16": torch.bfloat16}
sd = {}
for k, v in header.items():
    if k == "__metadata__" or k == "block_emb":
        continue
    b, e = v["data_offsets"]
    sd[k] = torch.frombuffer(bytearray(body[b:e]), dtype=kinds[v["dtype"]]).reshape(v["shape"]).clone()
del body
sd["block_emb"] = torch.randn(n, 128, generator=torch.Generator().manual_seed(0))
torch.save(sd, repo + "/pytorch_model.bin")
print("pytorch_model.bin: %.2f GB in %.0f s" % (os.path.getsize(repo + "/pytorch_model.bin") / 1e9, time.time() - t))
PY
  echo done > "$WORK/repo/pytorch_model.bin.done"
fi
if [ ! -s "$WORK/repo/block_records.npy.done" ]; then
  # np.save pickles an object array with protocol 3, which CPython's C pickler
  # buffers whole before writing (12.6 GB on top of the strings themselves);
  # the pure-Python pickler writes the same bytes as it goes.
  $PY - "$WORK/repo" "$N" "$SHARED/data/squad-v1.1-dev-open" <<'PY'
import glob, json, os, pickle, sys, time
import numpy as np
repo, n, squad = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pickle.dump = lambda obj, f, protocol=None, **kw: pickle._Pickler(f, protocol, **kw).dump(obj)
t = time.time()
text = " ".join(json.loads(l)["text"] for f in glob.glob(squad + "/*.jsonl") for l in open(f) if '"text"' in l)
if len(text) < 100000:
    text = "the quick brown fox jumps over the lazy dog " * 5000
records = np.empty(n, dtype=object)  # n distinct UTF-8 strings of ~940 bytes (the released average), real text
span, m = 925, len(text) - 1000
for i in range(n):
    s = (i * 7919) % m
    records[i] = (text[s:s + span] + " %d" % i).encode()
with open(repo + "/block_records.npy", "wb") as f:
    np.save(f, records, allow_pickle=True)
print("block_records.npy: %.2f GB in %.0f s" % (os.path.getsize(repo + "/block_records.npy") / 1e9, time.time() - t))
PY
  echo done > "$WORK/repo/block_records.npy.done"
fi
echo "files ready after $(secs "$t0" "$(now)") s"
ls -la "$WORK/repo" | grep -v '^total'

# 2. The Hub on loopback; the cache starts empty.
rm -rf "$WORK/hf" "$WORK/xdg" "$WORK/ports"
t0=$(now)
$PY "$ROOT/tests/servers/fake_hub.py" serve --repo "$REPO_ID=$WORK/repo" --ports-file "$WORK/ports" \
  --log "$WORK/hub.log" > "$WORK/hub.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 3000); do [ -s "$WORK/ports" ] && break; sleep 0.2; done
HUB=$($PY -c "import json; print(json.load(open('$WORK/ports'))['hub'])")
echo "test Hub up (hashed the files) in $(secs "$t0" "$(now)") s"
export HF_ENDPOINT="http://127.0.0.1:$HUB" HF_HOME="$WORK/hf" XDG_CACHE_HOME="$WORK/xdg"

# 3. The one command. quickstart pulls (progress on stderr), the retriever prepares, all serve.
t0=$(now)
bash "$ROOT/scripts/quickstart.sh" --model "$REPO_ID" --detach --port-base "$PORT_BASE" 2>&1 | tee "$WORK/quickstart.log"
T_UP=$(secs "$t0" "$(now)")
RUN="$WORK/xdg/orqa/run"
echo
echo "== measured (CPU: $CPU)"
grep -h '^pulled ' "$WORK/quickstart.log" | sed 's/^/pull:            /' || true
grep -h 'prepared \|[0-9] blocks$\|blocks; ' "$RUN/retriever.log" | sed 's/.*I retriever /prepare:         /' || true
grep -h 'loaded shard' "$RUN/retriever.log" | sed 's/.*I retriever /load:            /' || true
echo "to SERVING:      $T_UP s from the command (pull + prepare + load)"
while read -r name pid; do
  printf "%-16s RSS %s (peak RSS %s)\n" "$name:" "$(rss_of "$pid")" "$(hwm_of "$pid")"
done < "$RUN/pids"
"$BIN/orqa" eval --gateway "127.0.0.1:$PORT_BASE" --data "$SHARED/data/nq-open/NQ-open.dev.jsonl" \
  --model-dir "$REPO_ID" --limit 200 --k 5 --read-k 5 --concurrency 1 --json 2> /dev/null |
  $PY -c "import json,sys; s=json.load(sys.stdin); l=s['latency_ms']; print('Answer (200 NQ questions, k 5, 1 client): p50 %.0f ms, p99 %.0f ms, %.2f q/s' % (l['p50'], l['p99'], s['questions_per_second']))" ||
  echo "Answer: orqa eval failed (see above)"
echo "disk: cache $(du -sh "$WORK/hf" | cut -f1) (blobs + prepared), source $(du -sh "$WORK/repo" | cut -f1); free $(df -h "$WORK" | awk 'NR==2 {print $4}')"
free -g | sed 's/^/memory: /'
