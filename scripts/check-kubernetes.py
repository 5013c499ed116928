#!/usr/bin/env python3
"""Checks the Kubernetes manifests of deploy/kubernetes/ (tests/e2e/deploy.rs
runs it and `coffer config check`s the configurations it prints).

- Every built-in resource is validated against the Kubernetes schema with
  kubernetes-validate (strict: unknown fields are errors).
- The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule), which the
  tool has no schema for, are checked structurally here: the fields the
  operator needs, and that they point at what exists (the Service's labels
  and port; the PrometheusRule's groups equal deploy/prometheus/alerts.yml).
- Across files: the pods run as the ServiceAccount that carries the IRSA
  annotation (eks.amazonaws.com/role-arn); no Secret or container holds
  static AWS keys; the Service, the prometheus.io/port annotation and the
  container port are the port the ConfigMap's [server] listen names.

Prints, as JSON on standard output, every coffer.toml embedded in a
ConfigMap ({"configs": [{"where": ..., "toml": ...}], "validated": [...],
"structural": [...]}); exits 1 listing the problems otherwise, 2 if
kubernetes-validate is missing.
"""
import json
import pathlib
import sys
import tomllib

try:
    import yaml
    import kubernetes_validate
except ImportError as e:
    print(
        f"{e}: install it with `pip install kubernetes-validate` (scripts/test.sh does)",
        file=sys.stderr,
    )
    sys.exit(2)

ROOT = pathlib.Path(__file__).resolve().parent.parent
KDIR = ROOT / "deploy/kubernetes"
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
STATIC_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
IRSA = "eks.amazonaws.com/role-arn"

problems = []
validated = []
structural = []
configs = []
docs = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


for f in sorted(KDIR.glob("*.yaml")):
    for i, d in enumerate(yaml.safe_load_all(f.read_text())):
        if d is None:
            continue
        where = f"{f.relative_to(ROOT)}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
        docs.append((where, d))
        if (d.get("apiVersion"), d.get("kind")) in CRDS:
            structural.append(where)
            continue
        try:
            kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)
            validated.append(where)
        except kubernetes_validate.ValidationError as e:
            problem(where, f"invalid: {e.message} at {'.'.join(str(p) for p in e.path)}")
        except Exception as e:  # a schema the tool lacks, a bad document
            problem(where, f"cannot validate: {e}")


def of_kind(kind):
    return [(w, d) for w, d in docs if d.get("kind") == kind]


def pod_specs():
    for w, d in of_kind("Deployment"):
        yield w, d["spec"]["template"]
    for w, d in of_kind("CronJob"):
        yield w, d["spec"]["jobTemplate"]["spec"]["template"]


# ConfigMaps: their coffer.toml, and the port [server] listens on.
listen_ports = set()
for w, d in of_kind("ConfigMap"):
    for key, text in (d.get("data") or {}).items():
        if not key.endswith(".toml"):
            continue
        configs.append({"where": f"{w} key {key}", "toml": text})
        try:
            cfg = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            problem(w, f"{key} is not TOML: {e}")
            continue
        listen = (cfg.get("server") or {}).get("listen")
        if not listen:
            problem(w, f"{key} has no [server] listen: the daemon would serve no /metrics")
        else:
            listen_ports.add(int(listen.rsplit(":", 1)[1]))
if not configs:
    problem("deploy/kubernetes", "no ConfigMap with a coffer.toml")

# IRSA: one ServiceAccount with a role ARN; every pod runs as it.
irsa = {
    d["metadata"]["name"]
    for _, d in of_kind("ServiceAccount")
    if str((d["metadata"].get("annotations") or {}).get(IRSA, "")).startswith("arn:aws:iam::")
}
if not irsa:
    problem("deploy/kubernetes", f"no ServiceAccount with the {IRSA} annotation")
container_ports = {}
for w, t in pod_specs():
    spec = t["spec"]
    if spec.get("serviceAccountName") not in irsa:
        problem(w, f"runs as {spec.get('serviceAccountName')!r}, not the IRSA ServiceAccount {sorted(irsa)}")
    for c in spec.get("containers", []):
        for e in c.get("env", []):
            if e.get("name") in STATIC_KEYS:
                problem(w, f"container {c['name']} sets {e['name']}: use IRSA, no static keys")
        for p in c.get("ports", []):
            container_ports[p.get("name")] = p["containerPort"]
    ann = (t.get("metadata") or {}).get("annotations") or {}
    if "prometheus.io/port" in ann and int(ann["prometheus.io/port"]) not in listen_ports:
        problem(w, f"prometheus.io/port {ann['prometheus.io/port']} is not a port [server] listens on {sorted(listen_ports)}")
for w, d in of_kind("Secret"):
    for k in list((d.get("stringData") or {})) + list((d.get("data") or {})):
        if k in STATIC_KEYS:
            problem(w, f"holds {k}: S3 credentials come from IRSA, never from a Secret")
for name, port in container_ports.items():
    if port not in listen_ports:
        problem("deploy/kubernetes", f"container port {name} = {port} is not a port [server] listens on {sorted(listen_ports)}")

# Services: their target port is a container port the daemon listens on.
services = of_kind("Service")
for w, d in services:
    for p in d["spec"]["ports"]:
        t = p.get("targetPort", p["port"])
        port = container_ports.get(t) if isinstance(t, str) else t
        if port not in listen_ports:
            problem(w, f"port {p.get('name')} targets {t}, which is not a port [server] listens on")

# ServiceMonitor (structural).
for w, d in of_kind("ServiceMonitor"):
    spec = d.get("spec") or {}
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    eps = spec.get("endpoints") or []
    if not sel or not eps:
        problem(w, "needs spec.selector.matchLabels and spec.endpoints")
    matched = [
        s for _, s in services
        if all((s["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())
        and s["metadata"].get("namespace") in ((spec.get("namespaceSelector") or {}).get("matchNames") or [d["metadata"].get("namespace")])
    ]
    if not matched:
        problem(w, f"selects no Service ({sel})")
    for ep in eps:
        if not any(ep.get("port") in [p.get("name") for p in s["spec"]["ports"]] for s in matched):
            problem(w, f"endpoint port {ep.get('port')!r} is no port name of the selected Service")
        if ep.get("path", "/metrics") != "/metrics":
            problem(w, f"endpoint path {ep.get('path')} is not /metrics")

# PrometheusRule (structural): its groups are alerts.yml's.
alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
rules = of_kind("PrometheusRule")
if not rules:
    problem("deploy/kubernetes", "no PrometheusRule")
for w, d in rules:
    groups = (d.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        problem(w, "needs spec.groups")
        continue
    for g in groups:
        for r in g.get("rules", []):
            if not r.get("alert") or not r.get("expr"):
                problem(w, f"group {g.get('name')}: a rule without alert or expr: {r}")
    if groups != alerts["groups"]:
        problem(w, "spec.groups differ from deploy/prometheus/alerts.yml: run python3 scripts/prometheus-rule.py")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
json.dump({"configs": configs, "validated": validated, "structural": structural}, sys.stdout, indent=1)
print()
