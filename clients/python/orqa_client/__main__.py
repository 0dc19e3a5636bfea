"""python3 -m orqa_client ask "QUESTION" [--gateway ADDR] [--k N] [--num-answers N] [--json]
[--tls-ca F --tls-cert F --tls-key F]: mirrors `orqa ask`."""
import argparse
import json
import os
import sys
from dataclasses import asdict

from orqa_client import Client, OrqaError, Tls


def mark(passage: str, begin: int, end: int) -> str:
    return passage[:begin] + "\u00ab" + passage[begin:end] + "\u00bb" + passage[end:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m orqa_client")
    sub = ap.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="ask a running orqa-gateway")
    ask.add_argument("question")
    ask.add_argument("--gateway", default=os.environ.get("ORQA_GATEWAY", "127.0.0.1:50051"))
    ask.add_argument("--k", type=int, default=0)
    ask.add_argument("--num-answers", type=int, default=1)
    ask.add_argument("--retrieval", choices=["dense", "sparse", "hybrid"])
    ask.add_argument("--timeout-ms", type=int, default=30000)
    ask.add_argument("--json", action="store_true", help="print the result as JSON")
    for f in ("ca", "cert", "key"):
        ask.add_argument(f"--tls-{f}", default=os.environ.get(f"ORQA_TLS_{f.upper()}"))
    a = ap.parse_args(argv)
    tls = Tls(a.tls_ca, a.tls_cert, a.tls_key) if a.tls_ca else None
    try:
        with Client(a.gateway, tls=tls, timeout=a.timeout_ms / 1000) as c:
            r = c.answer(a.question, k=a.k, num_answers=a.num_answers, retrieval=a.retrieval, return_timings=True)
    except OrqaError as e:
        print(f"python3 -m orqa_client ask: error: {a.gateway}: {e.message} ({e.code.name})", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(asdict(r), ensure_ascii=False))
        return 0
    if not r.answers:
        print("no answer (no block yielded a valid span)")
        return 0
    for i, ans in enumerate(r.answers):
        ev = ans.evidence
        print(f"{'Answer' if i == 0 else f'#{i + 1}'}: {ans.text}")
        print(f"  score {ans.score:.3f} (reader {ans.reader_score:.3f} + retrieval {ans.retrieval_score:.3f})")
        print(f"  from block {ev.block_id}: {ev.title}")
        print(f"  {mark(ev.passage, ev.answer_char_begin, ev.answer_char_end)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
