#!/usr/bin/env bash
# Installs every Debian package orqa's build, tests and REST proxy need.
# Idempotent: packages already present are skipped; apt only, no recommends.
# --build-only: just what building the services needs (the container image's
# build stage), no test, fuzzing, browser or benchmark tools.
set -euo pipefail
BUILD_ONLY=0
for a in "$@"; do
  case "$a" in
    --build-only) BUILD_ONLY=1 ;;
    *) echo "install-deps.sh: error: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git curl
  # the recipe and quickstart scripts parse JSON with it
  python3
  # gRPC / protobuf
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # LibTorch, FAISS, BLAS; oneDNN's headers (the bf16 products call the
  # libdnnl that LibTorch links)
  libtorch-dev libfaiss-dev libopenblas-dev libdnnl-dev
  # data-parallel training: c10d's ProcessGroupGloo headers
  libgloo-dev
  # logging, metrics, misc
  libspdlog-dev libfmt-dev prometheus-cpp-dev nlohmann-json3-dev libcpp-httplib-dev
  libutf8proc-dev
  # orqa pull: HTTP(S) downloads and their checksums; TLS files checked at start;
  # openssl makes the certificates (scripts/make-certs.sh)
  libcurl4-openssl-dev libssl-dev openssl
  # sparse retrieval (BM25) and Python-compatible regexes (CuratedTrec answers)
  libxapian-dev libpcre2-dev
  # REST proxy (Go, grpc-gateway v1)
  golang-go golang-grpc-gateway golang-github-grpc-ecosystem-grpc-gateway-dev
  golang-goprotobuf-dev golang-google-grpc-dev golang-google-genproto-dev
)
TEST_PACKAGES=(
  # tests, fuzzing, benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
  # integration tests: scraping, compose validation, rendering the Kubernetes manifests
  prometheus docker-compose python3-yaml
  # browser tests of the web page (headless)
  chromium
  # load benchmark over REST
  wrk
  # the Python client's tests (clients/python, on Debian's gRPC, no pip)
  python3-grpcio python3-protobuf
)

# `kubectl kustomize` renders deploy/k8s offline: Debian's kubernetes-client,
# unless a kubectl (e.g. a newer one from another package) is already there.
command -v kubectl >/dev/null 2>&1 || TEST_PACKAGES+=(kubernetes-client)
[ "$BUILD_ONLY" = 1 ] || PACKAGES+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
