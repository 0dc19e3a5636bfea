#!/usr/bin/env python3
"""Renders every kustomize overlay under deploy/k8s offline (`kubectl kustomize`,
no server) and checks each rendered object against what the binaries accept.

Usage: k8s_render_test.py REPO_ROOT BIN_DIR
Checks: expected kinds per overlay; every ORQA_* variable a container sets is
one its binary lists in --help; gRPC readiness probes on the port the service
listens on (ORQA_GRPC_PORT), liveness on /metrics at ORQA_METRICS_PORT, and the
Prometheus scrape annotations naming that port; a termination grace period
longer than ORQA_GRACE_PERIOD_S; the admin token from a Secret; Services
targeting named container ports; shard count = StatefulSet replicas =
ORQA_NUM_SHARDS = the gateway's and trainer's shard lists, in ordinal order;
the reader reached through its headless Service; trainer ranks = replicas =
ORQA_WORLD_SIZE with the rendezvous at rank 0; the HPA on the reader's
in-flight gauge; the Indexed Job's completions = its --num-shards; the alerting
rules shipped as ConfigMap orqa-prometheus-rules equal deploy/prometheus/alerts.yml;
NetworkPolicies evaluated for every (source pod, target pod, port): retriever and
reader gRPC from the gateway and trainer only, trainer gRPC from the gateway and
every port from its other ranks, gateway and REST from anywhere, metrics from
Prometheus; overlays/mtls: every service's certificate, key and client CA from
its role's Secret, backends dialled over TLS, exec readiness probes through
`orqa health` with the pod's certificate, REST serving HTTPS.
"""
import os
import re
import subprocess
import sys

import yaml

ROOT, BIN = sys.argv[1], sys.argv[2]
K8S = os.path.join(ROOT, "deploy", "k8s")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def render(path):
    r = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"kubectl kustomize {path} failed: {r.stderr.strip()}")
        return []
    return [o for o in yaml.safe_load_all(r.stdout) if o]


_env_cache = {}


def accepted_env(binary):
    """The ORQA_* names `binary --help` lists (its flags' environment fallbacks)."""
    if binary not in _env_cache:
        r = subprocess.run([os.path.join(BIN, binary), "--help"], capture_output=True, text=True)
        _env_cache[binary] = set(re.findall(r"\[(ORQA_[A-Z0-9_]+)\]", r.stdout + r.stderr))
        check(_env_cache[binary], f"{binary} --help lists no environment variables")
    return _env_cache[binary]


def binary_of(container):
    cmd = container.get("command") or []
    text = " ".join(cmd)
    m = re.search(r"\b(orqa(?:-[a-z]+)?)\b", text)
    return m.group(1) if m else None


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def value(env, name):
    return env[name].get("value") if name in env else None


def pod_spec(obj):
    if obj["kind"] in ("Deployment", "StatefulSet"):
        return obj["spec"]["template"]
    if obj["kind"] == "Job":
        return obj["spec"]["template"]
    return None


def secret_file(spec, container, path, role):
    """True when `path` lies in a volume mounted in `container` from the Secret orqa-tls-ROLE."""
    secrets = {v["name"]: v.get("secret", {}).get("secretName") for v in spec.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        if path and path.startswith(m["mountPath"].rstrip("/") + "/") and secrets.get(m["name"]) == f"orqa-tls-{role}":
            return True
    return False


def check_tls(where, spec, c, binary, env, grpc_port):
    """overlays/mtls: the container's role certificate, mutual TLS, TLS to its backends, exec readiness."""
    role = binary.split("-", 1)[1]
    for var in ("ORQA_TLS_CERT", "ORQA_TLS_KEY", "ORQA_TLS_CLIENT_CA"):
        check(secret_file(spec, c, value(env, var), role), f"{where}: {var} is not a file of Secret orqa-tls-{role}")
    if role in ("gateway", "trainer"):
        check(secret_file(spec, c, value(env, "ORQA_BACKEND_TLS_CA"), role), f"{where}: backends not dialled over TLS")
    want = ["orqa", "health", f"127.0.0.1:{grpc_port}", "--tls-ca", value(env, "ORQA_TLS_CLIENT_CA"), "--tls-cert",
            value(env, "ORQA_TLS_CERT"), "--tls-key", value(env, "ORQA_TLS_KEY")]
    rp = c.get("readinessProbe", {})
    check(rp.get("exec", {}).get("command") == want and "grpc" not in rp,
          f"{where}: readiness is not `orqa health` with the pod's certificate: {rp}")
    r = subprocess.run([os.path.join(BIN, "orqa"), "health", "--help"], capture_output=True, text=True)
    for flag in ("--tls-ca", "--tls-cert", "--tls-key"):
        check(flag in r.stdout + r.stderr, f"{where}: orqa health has no {flag}")
    check(spec.get("securityContext", {}).get("fsGroup") == 65534, f"{where}: the key is not readable by nobody")


def check_overlay(name, objs, shards, trainer_ranks, mtls=False):
    by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    expected = {("StatefulSet", "orqa-retriever"), ("Service", "orqa-retriever"),
                ("Deployment", "orqa-reader"), ("Service", "orqa-reader"),
                ("HorizontalPodAutoscaler", "orqa-reader"), ("Deployment", "orqa-gateway"),
                ("Service", "orqa-gateway"), ("StatefulSet", "orqa-trainer"), ("Service", "orqa-trainer"),
                ("PersistentVolumeClaim", "orqa-train-output"), ("Deployment", "orqa-rest"),
                ("Service", "orqa-rest"), ("ConfigMap", "orqa-prometheus-rules")} | {
                   ("NetworkPolicy", f"orqa-{r}") for r in ("retriever", "reader", "trainer", "gateway", "rest")}
    check(set(by) == expected, f"{name}: objects {sorted(set(by) ^ expected)} differ from the expected set")
    for (kind, oname), o in by.items():
        check(o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "orqa",
              f"{name}: {kind}/{oname} lacks the part-of label")
        tmpl = pod_spec(o)
        if tmpl is None:
            continue
        spec = tmpl["spec"]
        sel = o["spec"]["selector"]["matchLabels"]
        check(all(tmpl["metadata"]["labels"].get(k) == v for k, v in sel.items()),
              f"{name}: {kind}/{oname} selector does not match its pod labels")
        for c in spec["containers"]:
            where = f"{name}: {kind}/{oname} container {c['name']}"
            binary = binary_of(c)
            check(binary is not None, f"{where}: no orqa binary in its command")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            env = env_of(c)
            if binary == "orqa-rest":
                check(c.get("readinessProbe", {}).get("httpGet", {}).get("port") == "http", f"{where}: readiness")
                if mtls:
                    flags = dict(a.split("=", 1) for a in c["command"] if a.startswith("--") and "=" in a)
                    for flag in ("--tls-cert", "--tls-key", "--backend-tls-ca"):
                        check(secret_file(spec, c, flags.get(flag), "rest"), f"{where}: {flag} not from Secret orqa-tls-rest")
                    check(c["readinessProbe"]["httpGet"].get("scheme") == "HTTPS", f"{where}: readiness not over HTTPS")
                    r = subprocess.run([os.path.join(BIN, "orqa-rest"), "--help"], capture_output=True, text=True)
                    for flag in flags:
                        check("-" + flag.lstrip("-") in r.stdout + r.stderr, f"{where}: orqa-rest has no {flag}")
                continue
            for e in env:
                if e.startswith("ORQA_"):
                    check(e in accepted_env(binary), f"{where}: {binary} does not accept {e}")
            grpc_port = int(value(env, "ORQA_GRPC_PORT") or -1)
            metrics_port = int(value(env, "ORQA_METRICS_PORT") or -1)
            check(ports.get("grpc") == grpc_port, f"{where}: grpc containerPort {ports.get('grpc')} != {grpc_port}")
            check(ports.get("metrics") == metrics_port, f"{where}: metrics containerPort != {metrics_port}")
            check(value(env, "ORQA_HOST") == "0.0.0.0", f"{where}: listens on {value(env, 'ORQA_HOST')}")
            rp = c.get("readinessProbe", {})
            if mtls:
                check_tls(where, spec, c, binary, env, grpc_port)
            else:
                check(rp.get("grpc", {}).get("port") == grpc_port, f"{where}: readiness is not a gRPC probe on {grpc_port}")
            lp = c.get("livenessProbe", {})
            check(lp.get("httpGet", {}).get("path") == "/metrics" and lp["httpGet"].get("port") in ("metrics", metrics_port),
                  f"{where}: liveness is not /metrics")
            ann = tmpl["metadata"].get("annotations", {})
            check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(metrics_port),
                  f"{where}: scrape annotations do not name port {metrics_port}")
            grace = float(value(env, "ORQA_GRACE_PERIOD_S") or -1)
            check(0 <= grace < spec.get("terminationGracePeriodSeconds", 30),
                  f"{where}: terminationGracePeriodSeconds {spec.get('terminationGracePeriodSeconds')} "
                  f"does not exceed --grace-period-s {grace}")
            check("requests" in c.get("resources", {}), f"{where}: no resource requests")
        for v in spec.get("volumes", []):
            claim = v.get("persistentVolumeClaim", {}).get("claimName")
            check(claim is None or claim in ("orqa-models", "orqa-index") or ("PersistentVolumeClaim", claim) in by,
                  f"{name}: {kind}/{oname} mounts an unknown claim {claim}")
        vct = o["spec"].get("volumeClaimTemplates", [])
        # (kustomize v2's commonLabels wrote a bare volumeClaimTemplates map into StatefulSets)
        check(isinstance(vct, list) and all("name" in t.get("metadata", {}) for t in vct),
              f"{name}: {kind}/{oname} has a malformed volumeClaimTemplates: {vct}")
        templates = {t["metadata"]["name"] for t in vct if isinstance(vct, list) and "name" in t.get("metadata", {})}
        declared = {v["name"] for v in spec.get("volumes", [])} | templates
        for c in spec["containers"]:
            for m in c.get("volumeMounts", []):
                check(m["name"] in declared, f"{name}: {kind}/{oname} mounts undeclared volume {m['name']}")
    # Services: selectors find pods, target ports are named container ports.
    for (kind, oname), svc in by.items():
        if kind != "Service":
            continue
        workload = [o for o in objs if pod_spec(o) and all(
            pod_spec(o)["metadata"]["labels"].get(k) == v for k, v in svc["spec"]["selector"].items())]
        check(len(workload) == 1, f"{name}: Service/{oname} selects {len(workload)} workloads")
        if workload:
            names = {p["name"] for c in pod_spec(workload[0])["spec"]["containers"] for p in c.get("ports", [])}
            for p in svc["spec"]["ports"]:
                check(p["targetPort"] in names, f"{name}: Service/{oname} targets unknown port {p['targetPort']}")
    sts = by[("StatefulSet", "orqa-retriever")]
    check(sts["spec"]["replicas"] == shards, f"{name}: {sts['spec']['replicas']} retriever replicas, expected {shards}")
    check(sts["spec"]["serviceName"] == "orqa-retriever" and by[("Service", "orqa-retriever")]["spec"].get("clusterIP") == "None",
          f"{name}: the shards' Service is not headless")
    rc = sts["spec"]["template"]["spec"]["containers"][0]
    check(value(env_of(rc), "ORQA_NUM_SHARDS") == str(shards), f"{name}: ORQA_NUM_SHARDS != {shards}")
    check('--shard-index="${HOSTNAME##*-}"' in " ".join(rc["command"]), f"{name}: shard index not from the ordinal")
    port = value(env_of(rc), "ORQA_GRPC_PORT")
    want = ",".join(f"orqa-retriever-{i}.orqa-retriever:{port}" for i in range(shards))
    gw = env_of(by[("Deployment", "orqa-gateway")]["spec"]["template"]["spec"]["containers"][0])
    trainer = by[("StatefulSet", "orqa-trainer")]
    tc = trainer["spec"]["template"]["spec"]["containers"][0]
    tr = env_of(tc)
    check(value(gw, "ORQA_RETRIEVERS") == want, f"{name}: gateway shard list {value(gw, 'ORQA_RETRIEVERS')} != {want}")
    check(value(tr, "ORQA_RETRIEVER") == want, f"{name}: trainer shard list {value(tr, 'ORQA_RETRIEVER')} != {want}")
    reader_port = value(env_of(by[("Deployment", "orqa-reader")]["spec"]["template"]["spec"]["containers"][0]),
                        "ORQA_GRPC_PORT")
    check(value(gw, "ORQA_READER") == f"dns:///orqa-reader:{reader_port}", f"{name}: gateway reader address")
    check(by[("Service", "orqa-reader")]["spec"].get("clusterIP") == "None", f"{name}: reader Service not headless")
    trainer_port = value(tr, "ORQA_GRPC_PORT")
    # Trainer ranks: rank = ordinal, world size = replicas, rendezvous and jobs at rank 0.
    check(trainer["spec"]["replicas"] == trainer_ranks, f"{name}: {trainer['spec']['replicas']} trainer ranks")
    check(value(tr, "ORQA_WORLD_SIZE") == str(trainer_ranks), f"{name}: ORQA_WORLD_SIZE != {trainer_ranks}")
    check('--rank="${HOSTNAME##*-}"' in " ".join(tc["command"]), f"{name}: trainer rank not from the ordinal")
    check(trainer["spec"]["serviceName"] == "orqa-trainer" and by[("Service", "orqa-trainer")]["spec"].get("clusterIP") == "None",
          f"{name}: the trainer ranks' Service is not headless")
    check(value(tr, "ORQA_MASTER_ADDR") == "orqa-trainer-0.orqa-trainer", f"{name}: rendezvous not at rank 0")
    rdv = {p["name"]: p["containerPort"] for p in tc["ports"]}.get("rendezvous")
    check(str(rdv) == value(tr, "ORQA_MASTER_PORT"), f"{name}: rendezvous port {rdv} != ORQA_MASTER_PORT")
    check(value(gw, "ORQA_TRAINER") == f"orqa-trainer-0.orqa-trainer:{trainer_port}", f"{name}: gateway trainer address")
    check(gw["ORQA_ADMIN_TOKEN"].get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "orqa-admin",
          f"{name}: the admin token is not from the orqa-admin Secret")
    check(any(t.get("metadata", {}).get("name") == "state" for t in trainer["spec"].get("volumeClaimTemplates", [])),
          f"{name}: the trainer's job store is not on a per-rank volume")
    hpa = by[("HorizontalPodAutoscaler", "orqa-reader")]["spec"]
    check(hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orqa-reader"},
          f"{name}: HPA target")
    check(hpa["metrics"][0]["pods"]["metric"]["name"] == "orqa_grpc_server_in_flight", f"{name}: HPA metric")
    check_network_policies(name, objs)
    rules = by.get(("ConfigMap", "orqa-prometheus-rules"), {}).get("data", {}).get("alerts.yml")
    with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")) as f:
        check(rules == f.read(), f"{name}: ConfigMap orqa-prometheus-rules does not hold deploy/prometheus/alerts.yml")
    return rc


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def check_network_policies(name, objs):
    """Evaluates the rendered NetworkPolicies as a CNI would (Ingress) for every
    source pod, target pod and named container port, against who should reach what."""
    workloads = {o["metadata"]["name"]: o for o in objs if pod_spec(o) and o["kind"] != "Job"}
    pods = {w: pod_spec(o)["metadata"]["labels"] for w, o in workloads.items()}
    # Sources: every workload (same namespace), Prometheus in another namespace, any other pod.
    sources = {w: (labels, True) for w, labels in pods.items()}
    sources["prometheus"] = ({"app.kubernetes.io/name": "prometheus"}, False)
    sources["other-pod"] = ({"app": "something-else"}, True)
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    for p in policies:
        sel = [w for w, labels in pods.items() if selects(p["spec"]["podSelector"], labels)]
        check(len(sel) == 1, f"{name}: NetworkPolicy/{p['metadata']['name']} selects {sel}")
        check(p["spec"].get("policyTypes") == ["Ingress"], f"{name}: NetworkPolicy/{p['metadata']['name']} policyTypes")

    def peer_matches(peer, labels, same_ns):
        if "namespaceSelector" in peer:  # {} = every namespace
            return selects(peer.get("podSelector"), labels) if "podSelector" in peer else True
        return same_ns and selects(peer.get("podSelector"), labels)

    def allowed(target, port_name, port_number, source):
        labels, same_ns = sources[source]
        mine = [p for p in policies if selects(p["spec"]["podSelector"], pods[target])]
        if not mine:
            return True
        for p in mine:
            for rule in p["spec"].get("ingress", []):
                ports = rule.get("ports")
                if ports and not any(q.get("port") in (port_name, port_number) for q in ports):
                    continue
                peers = rule.get("from")
                if not peers or any(peer_matches(peer, labels, same_ns) for peer in peers):
                    return True
        return False

    everyone = set(sources)
    expected = {
        "orqa-retriever": {"grpc": {"orqa-gateway", "orqa-trainer"}, "metrics": {"prometheus"}},
        "orqa-reader": {"grpc": {"orqa-gateway", "orqa-trainer"}, "metrics": {"prometheus"}},
        "orqa-trainer": {"grpc": {"orqa-gateway", "orqa-trainer"}, "metrics": {"prometheus", "orqa-trainer"},
                         "rendezvous": {"orqa-trainer"}},
        "orqa-gateway": {"grpc": everyone, "metrics": {"prometheus"}},
        "orqa-rest": {"http": everyone, "https": everyone},
    }
    for target, o in workloads.items():
        for c in pod_spec(o)["spec"]["containers"]:
            for port in c.get("ports", []):
                want = expected.get(target, {}).get(port["name"])
                check(want is not None, f"{name}: no expectation for {target} port {port['name']}")
                for source in sources:
                    got = allowed(target, port["name"], port["containerPort"], source)
                    check(got == (source in (want or set())),
                          f"{name}: {source} -> {target}:{port['name']} is {'allowed' if got else 'blocked'}")


for overlay, shards, ranks in (("shards-1", 1, 1), ("shards-4", 4, 1), ("shards-4-own-index", 4, 1),
                               ("trainer-dp-2", 4, 2), ("mtls", 2, 1)):
    objs = render(os.path.join(K8S, "overlays", overlay))
    if objs:
        rc = check_overlay(overlay, objs, shards, ranks, mtls=overlay == "mtls")
        if overlay.endswith("own-index"):
            check('--embeddings="/index/shard-${HOSTNAME##*-}.npy"' in " ".join(rc["command"]),
                  f"{overlay}: shards do not load their own files")
job_objs = render(os.path.join(K8S, "jobs", "build-index"))
jobs = [o for o in job_objs if o["kind"] == "Job"]
check(len(jobs) == 1, "build-index: expected one Job")
if jobs:
    js = jobs[0]["spec"]
    check(js.get("completionMode") == "Indexed", "build-index: not an Indexed Job")
    c = js["template"]["spec"]["containers"][0]
    text = " ".join(c["command"])
    m = re.search(r"--num-shards (\d+)", text)
    check(m is not None and int(m.group(1)) == js["completions"], "build-index: completions != --num-shards")
    check("--shard-index \"${JOB_COMPLETION_INDEX}\"" in text, "build-index: shard index not from the completion index")
    check(binary_of(c) == "orqa" and "embed-blocks" in text, "build-index: not orqa embed-blocks")
    r = subprocess.run([os.path.join(BIN, "orqa"), "embed-blocks", "--help"], capture_output=True, text=True)
    for flag in re.findall(r"(--[a-z-]+)", text.split("embed-blocks", 1)[1]):
        check(flag in r.stdout + r.stderr, f"build-index: orqa embed-blocks has no {flag}")

if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print(f"ok: 5 overlays and the build-index job render and agree with the binaries ({len(_env_cache)} binaries checked)")
