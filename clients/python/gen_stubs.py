#!/usr/bin/env python3
"""Generates the Python protobuf and gRPC modules of orqa's API into
orqa_client/_gen/ (or --out, which must be an orqa_client/_gen folder): proto/orqa/v1/*.proto and the googleapis files
they import. Uses protoc + grpc_python_plugin (Debian's protobuf-compiler and
protobuf-compiler-grpc) when present, else grpc_tools.protoc (pip's
grpcio-tools). The generated modules are never committed.

Usage: gen_stubs.py [--proto-dir DIR] [--googleapis DIR] [--out DIR]
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOOGLEAPIS_CANDIDATES = [
    "/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis",
    "/usr/include",
]


def find_googleapis(explicit):
    for d in ([explicit] if explicit else []) + GOOGLEAPIS_CANDIDATES:
        if d and os.path.exists(os.path.join(d, "google", "api", "annotations.proto")):
            return d
    try:  # pip's googleapis-common-protos ships the .proto files too
        import google.api as ga  # noqa: F401
        d = os.path.dirname(os.path.dirname(os.path.dirname(ga.__file__)))
        if os.path.exists(os.path.join(d, "google", "api", "annotations.proto")):
            return d
    except ImportError:
        pass
    sys.exit("gen_stubs.py: error: google/api/annotations.proto not found (--googleapis DIR)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto-dir", default=os.path.join(HERE, "..", "..", "proto"))
    ap.add_argument("--googleapis", default="")
    ap.add_argument("--out", default=os.path.join(HERE, "orqa_client", "_gen"))
    a = ap.parse_args()
    proto_dir = os.path.abspath(a.proto_dir)
    gapi = find_googleapis(a.googleapis)
    protos = sorted(glob.glob(os.path.join(proto_dir, "orqa", "v1", "*.proto")))
    if not protos:
        sys.exit(f"gen_stubs.py: error: no .proto files under {proto_dir}/orqa/v1")
    google = [os.path.join(gapi, "google", "api", f) for f in ("annotations.proto", "http.proto")]
    out = os.path.abspath(a.out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    plugin = shutil.which("grpc_python_plugin")
    if shutil.which("protoc") and plugin:
        base = ["protoc", f"--plugin=protoc-gen-grpc_python={plugin}"]
    else:
        try:
            import grpc_tools  # noqa: F401
        except ImportError:
            sys.exit("gen_stubs.py: error: needs protoc and grpc_python_plugin, or pip's grpcio-tools")
        base = [sys.executable, "-m", "grpc_tools.protoc"]
    cmd = base + [f"-I{proto_dir}", f"-I{gapi}", f"--python_out={out}", f"--grpc_python_out={out}"] + protos + google
    subprocess.run(cmd, check=True)
    # The modules import each other as orqa.v1.* and google.api.*: made
    # orqa_client._gen.* so they never meet another package of those names
    # (googleapis-common-protos, another copy of orqa's stubs).
    for d in ("", "orqa", os.path.join("orqa", "v1"), "google", os.path.join("google", "api")):
        open(os.path.join(out, d, "__init__.py"), "a").close()
    for path in glob.glob(os.path.join(out, "**", "*.py"), recursive=True):
        text = open(path).read()
        fixed = text.replace("from orqa.v1 import", "from orqa_client._gen.orqa.v1 import").replace(
            "from google.api import", "from orqa_client._gen.google.api import")
        if fixed != text:
            open(path, "w").write(fixed)
    print(f"generated {len(protos) + len(google)} protos into {out}")


if __name__ == "__main__":
    main()
