#!/usr/bin/env bash
# The container stack, run for real with Debian's podman (no Docker Hub):
#   1. a debian:bookworm base image from `mmdebstrap --variant=minbase` (the
#      Dockerfile's FROM names stay what a Docker Hub user builds),
#   2. deploy/docker/Dockerfile built (its runtime packages must exist) and a
#      Prometheus image from Debian's package (deploy/prometheus/Dockerfile),
#   3. `docker-compose up` (Debian's 1.29 against `podman system service`) with the
#      realm-tiny fixture mounted as the model, host ports picked free,
#   4. Answer over the published REST port from the host, Prometheus scraping
#      every service (`up` = 1 for gateway, retriever, reader, trainer),
#   5. `docker-compose down`: no container of the project left.
# Exits 77 (ctest: skipped) when podman, mmdebstrap or docker-compose is missing.
# env: ORQA_SHARED_DIR, BUILD_DIR (for `orqa build-blocks`), ORQA_CONTAINER_KEEP=1 keeps images.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
SHARED="${ORQA_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
FIX="$SHARED/fixtures/realm-tiny"
for tool in podman mmdebstrap docker-compose curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "container_test: $tool not installed: skipped"; exit 77; }
done
WORK="$(mktemp -d /tmp/orqa-containers-XXXXXX)"
PROJECT="orqatest$$"
SERVICE_PID=""
# podman on this kind of VM: runc (crun refuses hybrid cgroups), cgroupfs, explicit limits
# no higher than the hard ones, an init process for clean stops.
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=65536
[ "$nproc" = unlimited ] && nproc=65536
[ "$nofile" -gt 20000 ] && nofile=20000
[ "$nproc" -gt 4096 ] && nproc=4096
cat > "$WORK/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
init = true
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$WORK/containers.conf"
export DOCKER_HOST="unix://$WORK/podman.sock"
cleanup() {
  local rc=$?
  docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$WORK/compose.test.yml" down -v >/dev/null 2>&1 || true
  [ -n "$SERVICE_PID" ] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null || true
  [ "$rc" != 0 ] && [ -d "$WORK" ] && echo "container_test: failed; files in $WORK" >&2
  [ "$rc" = 0 ] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
step() { echo "== $(date +%T) $*"; }

# 1. The base image.
if ! podman image exists docker.io/library/debian:bookworm; then
  step "base image: mmdebstrap --variant=minbase bookworm"
  mmdebstrap --variant=minbase bookworm "$WORK/bookworm.tar" >"$WORK/mmdebstrap.log" 2>&1
  podman import "$WORK/bookworm.tar" docker.io/library/debian:bookworm >/dev/null
  rm -f "$WORK/bookworm.tar"
fi
podman image exists docker.io/library/debian:bookworm-slim ||
  podman tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim

# 2. The images (layers cached between runs).
step "building orqa:latest from deploy/docker/Dockerfile"
podman build --layers -t localhost/orqa:latest -f "$ROOT/deploy/docker/Dockerfile" "$ROOT" >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log"; exit 1; }
step "building the Prometheus image from Debian's package"
podman build --layers -t localhost/orqa-prometheus:latest -f "$ROOT/deploy/prometheus/Dockerfile" \
  "$ROOT/deploy/prometheus" >"$WORK/build-prometheus.log" 2>&1 || { tail -30 "$WORK/build-prometheus.log"; exit 1; }
# Every binary finds its shared libraries in the runtime image.
podman run --rm localhost/orqa:latest sh -c 'for b in /usr/local/bin/orqa*; do ldd "$b" | grep "not found" && exit 1; done; orqa-gateway --version' \
  || { echo "container_test: a binary misses a library in the runtime image" >&2; exit 1; }

# 3. The stack with the fixture model.
mkdir -p "$WORK/models/realm-tiny"
cp "$FIX/config.json" "$FIX/vocab.txt" "$WORK/models/realm-tiny/"
cp "$FIX/realm_for_open_qa.safetensors" "$WORK/models/realm-tiny/model.safetensors"
"$BIN/orqa" build-blocks --from "$SHARED/fixtures/hf-format/block_records.npy" --out "$WORK/models/fixture.blocks" >/dev/null
chmod -R a+rX "$WORK/models"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export ORQA_GRPC_HOST_PORT=$(free_port) ORQA_REST_HOST_PORT=$(free_port) ORQA_PROMETHEUS_HOST_PORT=$(free_port)
export ORQA_MODEL_DIR=/models/realm-tiny ORQA_BLOCKS=/models/fixture.blocks \
  ORQA_EMBEDDINGS=/models/realm-tiny/model.safetensors ORQA_PROMETHEUS_IMAGE=localhost/orqa-prometheus:latest
export ORQA_ADMIN_TOKEN="test-$RANDOM"
cat > "$WORK/compose.test.yml" <<YML
version: "3.8"
services:
  retriever: {image: localhost/orqa:latest, volumes: ["$WORK/models:/models:ro"]}
  reader: {image: localhost/orqa:latest, volumes: ["$WORK/models:/models:ro"]}
  trainer: {image: localhost/orqa:latest, volumes: ["$WORK/models:/models:ro"]}
  gateway: {image: localhost/orqa:latest}
  rest: {image: localhost/orqa:latest}
  prometheus:
    # 2 s scrapes so the test need not wait 15 s
    command: ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    volumes: ["$WORK/prometheus.yml:/etc/prometheus/prometheus.yml:ro"]
YML
sed 's/scrape_interval: 15s/scrape_interval: 2s/' "$ROOT/deploy/prometheus/prometheus.yml" > "$WORK/prometheus.yml"
chmod a+r "$WORK/prometheus.yml"
step "podman system service, docker-compose up"
podman system service --time=0 "$DOCKER_HOST" >"$WORK/podman-service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 50); do [ -S "$WORK/podman.sock" ] && break; sleep 0.2; done
COMPOSE=(docker-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$WORK/compose.test.yml")
"${COMPOSE[@]}" up -d --no-build >"$WORK/compose-up.log" 2>&1 || { cat "$WORK/compose-up.log"; exit 1; }

# 4. Answer over REST from the host, then Prometheus scraping every service.
step "Answer over REST on 127.0.0.1:$ORQA_REST_HOST_PORT"
answer=""
for _ in $(seq 1 120); do
  answer=$(curl -s -m 10 -X POST "http://127.0.0.1:$ORQA_REST_HOST_PORT/v1/answer" \
    -H 'Content-Type: application/json' -d '{"question": "Who wrote the Iliad?", "k": 3}' || true)
  echo "$answer" | grep -q '"answers"' && break
  sleep 1
done
echo "$answer" | python3 -c '
import json, sys
r = json.load(sys.stdin)
a = r["answers"][0]
e = a["evidence"]
# the answer is the text of the evidence passage at its offsets (code points)
assert a["text"] and e["passage"][e["answer_char_begin"]:e["answer_char_end"]] == a["text"], r
print("answer:", repr(a["text"]), "from block", e["block_id"])
' || { echo "no answer over REST: $answer" >&2; "${COMPOSE[@]}" logs --tail 20 >&2; exit 1; }
step "Prometheus on 127.0.0.1:$ORQA_PROMETHEUS_HOST_PORT scraping every service"
up=""
for _ in $(seq 1 60); do
  up=$(curl -s -m 5 "http://127.0.0.1:$ORQA_PROMETHEUS_HOST_PORT/api/v1/query?query=up" || true)
  n=$(echo "$up" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
except Exception:
    print(0); sys.exit()
print(sum(1 for x in r if x["value"][1] == "1" and x["metric"]["job"] in ("gateway", "retriever", "reader", "trainer")))' )
  [ "$n" = 4 ] && break
  sleep 1
done
[ "$n" = 4 ] || { echo "Prometheus does not see every service up: $up" >&2; exit 1; }
echo "prometheus: up = 1 for gateway, retriever, reader, trainer"

# 5. Down: nothing of the project left.
step "docker-compose down"
"${COMPOSE[@]}" down -v >"$WORK/compose-down.log" 2>&1
left=$(podman ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}' | wc -l)
[ "$left" = 0 ] || { echo "containers left after down: $left" >&2; exit 1; }
echo "container_test: ok"
