#!/usr/bin/env bash
# Every ```bash block of docs/api.md, and every ```python block of README.md
# and clients/python/README.md (on Debian's python3-grpcio, the stubs
# generated into a temporary copy, 127.0.0.1:50051 read as the test's
# gateway), runs against the realm-tiny fixture stack
# (retriever, reader, trainer, gateway with an admin token, orqa-rest) with GW, REST,
# RETRIEVER and TOKEN set and the build's binaries first on PATH; a block fails
# the test when any of its commands fails (set -e; `!` and `test` assert).
# env: BUILD_DIR (default build), ORQA_SHARED_DIR, KEEP_WORK
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
orqa_work docs
DOCS=("$ROOT/docs/api.md")
fixture_data "$WORK/data"
r=$(free_port) d=$(free_port) t=$(free_port) g=$(free_port)
"$BIN/orqa-retriever" --grpc-port=$r --metrics-port=0 --model-dir="$FX" --blocks="$WORK/data/blocks.store" \
  --embeddings="$FX/pytorch_model.bin" > "$WORK/retriever.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 --model-dir="$FX" > "$WORK/reader.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-trainer" --grpc-port=$t --metrics-port=0 --state-dir="$WORK/state" --retriever=127.0.0.1:$r \
  > "$WORK/trainer.log" 2>&1 &
PIDS+=($!)
export TOKEN=docs-example-token
"$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r --reader=127.0.0.1:$d \
  --trainer=127.0.0.1:$t --admin-token=$TOKEN --default-k=3 > "$WORK/gateway.log" 2>&1 &
PIDS+=($!)
export GW=127.0.0.1:$g RETRIEVER=127.0.0.1:$r REST=127.0.0.1:$(free_port)
"$BIN/orqa-rest" --listen=$REST --gateway=$GW > "$WORK/rest.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do "$BIN/orqa" health $GW --timeout-ms 500 > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN/orqa" health $GW > /dev/null || { tail -3 "$WORK"/*.log; fail "the stack did not serve"; }
for _ in $(seq 1 100); do curl -sf "http://$REST/healthz" > /dev/null && break; sleep 0.1; done
export PATH="$BIN:$PATH"

blocks=0
for doc in "${DOCS[@]}"; do
  # Split the document's ```bash blocks into files.
  python3 - "$doc" "$WORK/blocks" <<'EOF'
import os, re, sys
doc, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
text = open(doc).read()
for n, m in enumerate(re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M)):
    line = text[: m.start()].count("\n") + 1
    open(os.path.join(out, f"{os.path.basename(doc)}:{line:04d}.sh"), "w").write(m.group(1))
EOF
done
# The Python examples.
PYDOCS=("$ROOT/README.md" "$ROOT/clients/python/README.md")
if /usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null; then
  python_client_pkg "$WORK/pkg"
  for doc in "${PYDOCS[@]}"; do
    python3 - "$doc" "$WORK/blocks" "$GW" <<'EOF2'
import os, re, sys
doc, out, gw = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(doc).read()
name = os.path.relpath(doc, os.path.dirname(os.path.dirname(os.path.abspath(doc)))).replace("/", "_")
for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
    line = text[: m.start()].count("\n") + 1
    open(os.path.join(out, f"{name}:{line:04d}.py"), "w").write(m.group(1).replace("127.0.0.1:50051", gw))
EOF2
  done
else
  echo "python blocks skipped: Debian's python3-grpcio is not installed"
fi
for block in "$WORK"/blocks/*.py; do
  [ -e "$block" ] || continue
  name=$(basename "$block" .py)
  if ! PYTHONPATH="$WORK/pkg" /usr/bin/python3 "$block" > "$WORK/$name.out" 2>&1; then
    echo "--- $name"; cat "$block"; echo "--- output"; cat "$WORK/$name.out"
    fail "the Python example at $name failed"
  fi
  blocks=$((blocks + 1))
done
for block in "$WORK"/blocks/*.sh; do
  name=$(basename "$block" .sh)
  if ! bash -euo pipefail "$block" > "$WORK/$name.out" 2>&1; then
    echo "--- $name"; cat "$block"; echo "--- output"; cat "$WORK/$name.out"
    fail "the example at $name failed"
  fi
  blocks=$((blocks + 1))
done
[ "$blocks" -ge 5 ] || fail "only $blocks examples found in ${DOCS[*]}"
echo "PASS: $blocks example blocks of ${DOCS[*]##*/} and the Python examples ran against the fixture stack"
