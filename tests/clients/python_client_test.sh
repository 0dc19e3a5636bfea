#!/usr/bin/env bash
# The Python client (clients/python) against the real fixture stack on
# 127.0.0.1, on Debian's python3-grpcio / python3-protobuf (no pip): stubs
# generated from proto/ into a temporary copy of the package; the golden
# answers and evidence offsets equal what `orqa ask` (C++ gRPC) gets;
# BatchAnswer; a finetune job started, watched to the end and deployed; each
# error class raised with its code and message; `python3 -m orqa_client ask`
# (an answer, --json, and the error when the reader is gone).
# env: BUILD_DIR (default build), ORQA_SHARED_DIR, KEEP_WORK
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PY=/usr/bin/python3
$PY -c "import grpc, google.protobuf" 2>/dev/null || { echo "skipped: needs python3-grpcio and python3-protobuf"; exit 77; }
orqa_work pyclient
fixture_data "$WORK/data"
python_client_pkg "$WORK/pkg"
r=$(free_port) d=$(free_port) t=$(free_port) g=$(free_port)
"$BIN/orqa-retriever" --grpc-port=$r --metrics-port=0 --model-dir="$FX" --blocks="$WORK/data/blocks.store" \
  --embeddings="$FX/pytorch_model.bin" > "$WORK/retriever.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-reader" --grpc-port=$d --metrics-port=0 --model-dir="$FX" > "$WORK/reader.log" 2>&1 &
READER=$!
PIDS+=($READER)
"$BIN/orqa-trainer" --grpc-port=$t --metrics-port=0 --state-dir="$WORK/state" --retriever=127.0.0.1:$r \
  > "$WORK/trainer.log" 2>&1 &
PIDS+=($!)
"$BIN/orqa-gateway" --grpc-port=$g --metrics-port=0 --retrievers=127.0.0.1:$r --reader=127.0.0.1:$d \
  --trainer=127.0.0.1:$t --admin-token=py-token --default-k=3 > "$WORK/gateway.log" 2>&1 &
PIDS+=($!)
GW=127.0.0.1:$g
for _ in $(seq 1 300); do "$BIN/orqa" health $GW --timeout-ms 500 > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN/orqa" health $GW > /dev/null || { tail -3 "$WORK"/*.log; fail "the stack did not serve"; }
# What the C++ client gets, question by question.
$PY -c "import json,sys; [print(json.loads(l)['question']) for l in open(sys.argv[1])]" "$WORK/data/qa.jsonl" |
  while IFS= read -r q; do "$BIN/orqa" ask "$q" --gateway $GW --json; done > "$WORK/cpp.jsonl"

export PYTHONPATH="$WORK/pkg" GW WORK FX READER
Q=$(head -1 "$WORK/data/qa.jsonl" | $PY -c "import json,sys; print(json.load(sys.stdin)['question'])")
$PY -m orqa_client ask "$Q" --gateway $GW > "$WORK/cli_ok.out"
expect_in "$WORK/cli_ok.out" "Answer: $(head -1 "$WORK/cpp.jsonl" | $PY -c "import json,sys; print(json.load(sys.stdin)['answers'][0]['text'])")"
expect_in "$WORK/cli_ok.out" "from block"
$PY -m orqa_client ask "$Q" --gateway $GW --json | $PY -c "import json,sys; r=json.load(sys.stdin); assert r['answers'][0]['evidence']['passage']"
$PY - <<'PYEOF'
import json, os, signal, time
import grpc
from orqa_client import Client, OrqaError

gw, work, fx = os.environ["GW"], os.environ["WORK"], os.environ["FX"]
questions = [json.loads(l)["question"] for l in open(f"{work}/data/qa.jsonl")]
cpp = [json.loads(l) for l in open(f"{work}/cpp.jsonl")]
client = Client(gw, token="py-token", timeout=30)

# 1. Answers and evidence equal the C++ client's (the goldens' own test is answer_test).
for q, c in zip(questions, cpp):
    r = client.answer(q)
    a, ca = r.answers[0], c["answers"][0]
    ev = ca["evidence"]
    assert a.text == ca["text"], (q, a.text, ca["text"])
    assert a.evidence.block_id == int(ev.get("block_id", 0)), (q, a.evidence, ev)
    assert (a.evidence.answer_char_begin, a.evidence.answer_char_end) == (ev.get("answer_char_begin", 0), ev["answer_char_end"])
    assert a.evidence.passage == ev["passage"] and abs(a.score - ca["score"]) < 1e-6
    assert a.evidence.passage[a.evidence.answer_char_begin:a.evidence.answer_char_end] == a.text
print(f"{len(questions)} answers equal the C++ client's, offsets and all")

# 2. BatchAnswer: in order, each as Answer gives it.
batch = client.batch_answer(questions, return_retrieved=True)
assert [b.question for b in batch] == questions
for b, c in zip(batch, cpp):
    assert b.answers[0].text == c["answers"][0]["text"]
    assert len(b.retrieved) == 3 and b.retrieved[0].score >= b.retrieved[-1].score
print("BatchAnswer: every answer as Answer's, 3 blocks retrieved each")

# 3. A finetune job: started, watched to its end, deployed.
job = client.jobs.start_finetune(model_dir=fx, train_path=f"{work}/data/qa.jsonl", output_dir=f"{work}/ckpt",
                                 num_steps=2, batch_size=2, learning_rate=1e-5)
events = list(client.jobs.watch(job["job_id"]))
assert events and events[-1]["job"]["state"] == "JOB_STATE_SUCCEEDED", events[-1]
assert any(j["job_id"] == job["job_id"] for j in client.jobs.list())
deployed = client.deploy(job_id=job["job_id"])
assert deployed["reader"]["version"] and deployed["embedder"]["version"], deployed
assert client.status()["backends"], "GetStatus"
print(f"job {job['job_id']}: {len(events)} events, SUCCEEDED, deployed {deployed['checkpoint_dir']}")

# 4. Errors: each class with its code and orqa's message.
def expect(fn, code, text):
    try:
        fn()
    except OrqaError as e:
        assert e.code == code and text in e.message, (e.code, e.message)
        return e
    raise AssertionError(f"no error, expected {code}")
expect(lambda: client.answer("   "), grpc.StatusCode.INVALID_ARGUMENT, "question")
expect(lambda: client.batch_answer([]), grpc.StatusCode.INVALID_ARGUMENT, "question")
expect(lambda: Client(gw, token="wrong").status(), grpc.StatusCode.UNAUTHENTICATED, "invalid admin token")
expect(lambda: Client(gw).status(), grpc.StatusCode.UNAUTHENTICATED, "admin token")
expect(lambda: client.jobs.get("no-such-job"), grpc.StatusCode.NOT_FOUND, "no-such-job")
os.kill(int(os.environ["READER"]), signal.SIGKILL)
t0 = time.monotonic()
e = expect(lambda: Client(gw, timeout=5, retries=2).answer(questions[0]), grpc.StatusCode.UNAVAILABLE, "reader")
print(f"errors: INVALID_ARGUMENT, UNAUTHENTICATED, NOT_FOUND, UNAVAILABLE ('{e.message[:60]}...' after retries, "
      f"{time.monotonic() - t0:.1f} s)")
PYEOF

# 5. The command line, against a gateway whose reader is gone: a clear error, exit 1.
if $PY -m orqa_client ask "who?" --gateway $GW > "$WORK/cli.out" 2>&1; then fail "ask succeeded without a reader"; fi
expect_in "$WORK/cli.out" "python3 -m orqa_client ask: error: $GW:"
expect_in "$WORK/cli.out" "(UNAVAILABLE)"
echo "PASS: the Python client"
