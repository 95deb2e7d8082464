"""Checks of docker/compose.yaml and deploy/kubernetes/ that their schemas
cannot make: what `docker compose config` and the Kubernetes API server
would refuse beyond the schema (references between parts), and what this
project's deployment promises (workers scale, tokens come from the env file
or the Secret, grace periods exceed shutdown_grace_seconds, probes on
/healthz). Run by scripts/check-deploy.sh with the .venv's Python, which has
ruamel.yaml (from check-jsonschema).

    check_deploy.py compose COMPOSE_FILE ENV_EXAMPLE CONFIG_TOML OUT_JSON
    check_deploy.py kubernetes DIR CONFIG_TOML

Prints each problem and exits 1 if there is any; `compose` also writes the
file interpolated with the example's values to OUT_JSON for the schema.
"""

import json
import os
import re
import sys
import tomllib
from urllib.parse import urlsplit

from ruamel.yaml import YAML

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


class Unreadable(Exception):
    pass


def load_yaml_all(path):
    # ruamel refuses duplicate keys, which PyYAML would take silently.
    yaml = YAML(typ="safe", pure=True)
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.load_all(f) if d is not None]
    except Exception as e:  # noqa: BLE001 - any parse error is the finding
        problem(path, f"not valid YAML: {type(e).__name__}: {e}")
        raise Unreadable from e


def shutdown_grace(config_toml):
    with open(config_toml, "rb") as f:
        return int(tomllib.load(f).get("shutdown_grace_seconds", 60))


# ---------------------------------------------------------------- compose

NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class Interpolation:
    """Compose's variable syntax: $$, $NAME, ${NAME}, ${NAME:-default},
    ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt},
    ${NAME+alt}, defaults nested."""

    def __init__(self, env, where):
        self.env = env
        self.where = where
        self.used = set()
        self.required = set()

    def expand(self, text):
        out, i = [], 0
        while i < len(text):
            c = text[i]
            if c != "$":
                out.append(c)
                i += 1
                continue
            if text.startswith("$$", i):
                out.append("$")
                i += 2
                continue
            m = re.match(NAME, text[i + 1 :])
            if m:
                self.used.add(m.group(0))
                out.append(self.env.get(m.group(0), ""))
                i += 1 + m.end()
                continue
            if text.startswith("${", i):
                end = self.closing(text, i + 2)
                if end < 0:
                    problem(self.where, f"unclosed ${{ in {text!r}")
                    return text
                out.append(self.braced(text[i + 2 : end]))
                i = end + 1
                continue
            problem(self.where, f"a lone $ in {text!r} (write $$ for a literal $)")
            out.append(c)
            i += 1
        return "".join(out)

    @staticmethod
    def closing(text, start):
        depth = 1
        for j in range(start, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return j
        return -1

    def braced(self, body):
        m = re.match(rf"({NAME})(?:(:?[-?+])(.*))?$", body, re.S)
        if not m:
            problem(self.where, f"invalid variable ${{{body}}}")
            return ""
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        self.used.add(name)
        value = self.env.get(name)
        if op is None:
            return value or ""
        colon = op.startswith(":")
        unset = value is None or (colon and value == "")
        kind = op[-1]
        if kind == "-":
            return self.expand(arg) if unset else value
        if kind == "+":
            return "" if unset else self.expand(arg)
        self.required.add(name)
        if unset:
            problem(self.where, f"required variable {name} is not set: {arg}")
            return ""
        return value


def interpolate(node, interp):
    if isinstance(node, dict):
        return {k: interpolate(v, interp) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, interp) for v in node]
    if isinstance(node, str):
        return interp.expand(node)
    return node


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(rf"(?:export\s+)?({NAME})=(.*)$", line)
            if not m:
                problem(f"{path}:{n}", f"not a NAME=VALUE line: {line!r}")
                continue
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            if m.group(1) in env:
                problem(f"{path}:{n}", f"{m.group(1)} is set twice")
            env[m.group(1)] = value
    return env


def duration_seconds(text):
    """Compose durations: 1h2m3s, 90s, 1.5m, 500ms."""
    text = str(text)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        return None
    return sum(float(a) * units[b] for a, b in parts)


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def environment_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env


def check_compose(compose_path, example_path, config_toml, out_json):
    where = compose_path
    docs = load_yaml_all(compose_path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        problem(where, "must hold exactly one YAML mapping")
        return
    example = read_env_file(example_path)
    interp = Interpolation(example, where)
    doc = interpolate(docs[0], interp)
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)

    # The env file example and the compose file name the same variables.
    for name in sorted(interp.used - example.keys()):
        problem(example_path, f"{name} is used by {compose_path} but missing here")
    for name in sorted(example.keys() - interp.used):
        problem(example_path, f"{name} is set here but {compose_path} does not use it")
    for name in sorted(interp.required):
        if not example.get(name):
            problem(example_path, f"{name} is required by {compose_path} and empty here")

    base = os.path.dirname(os.path.abspath(compose_path))
    services = doc.get("services") or {}
    volumes = doc.get("volumes") or {}
    networks = doc.get("networks") or {}
    grace = shutdown_grace(config_toml)

    for name, svc in services.items():
        at = f"{where}: services.{name}"
        # What `docker compose config` resolves beyond the schema.
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, (list, dict)) else []:
            if dep not in services:
                problem(at, f"depends_on names no service: {dep}")
        for net in svc.get("networks") or []:
            if net not in networks and net != "default":
                problem(at, f"network {net} is not declared at the top level")
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict):
                source = vol.get("source") if vol.get("type") == "volume" else None
            else:
                source = vol.split(":")[0] if ":" in vol else None
            named = source and not source.startswith((".", "/", "~"))
            if named and source not in volumes:
                problem(at, f"volume {source} is not declared at the top level")
        build = svc.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if build:
            context = os.path.normpath(os.path.join(base, build.get("context", ".")))
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            if not os.path.isdir(context):
                problem(at, f"build context {context} is not a folder")
            elif not os.path.isfile(dockerfile):
                problem(at, f"build.dockerfile {dockerfile} does not exist")
        for env_file in as_list(svc.get("env_file")):
            path = env_file.get("path") if isinstance(env_file, dict) else env_file
            required = env_file.get("required", True) if isinstance(env_file, dict) else True
            if required and not os.path.isfile(os.path.join(base, path)):
                problem(at, f"env_file {path} does not exist")
        period = duration_seconds(svc.get("stop_grace_period", "10s"))
        if period is None:
            problem(at, f"stop_grace_period {svc.get('stop_grace_period')!r} is no duration")
        elif period <= grace:
            problem(
                at,
                f"stop_grace_period {period:g}s must exceed shutdown_grace_seconds ({grace})",
            )

    # What this deployment promises.
    server = services.get("server")
    if not server:
        problem(where, "no service `server`")
    else:
        at = f"{where}: services.server"
        test = " ".join(as_list((server.get("healthcheck") or {}).get("test")))
        if "/healthz" not in test or ":8080" not in test:
            problem(at, "the healthcheck must ask GET /healthz on port 8080")
        mounts = [
            v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
            for v in server.get("volumes") or []
        ]
        if not any(m.split(":")[0] in volumes and m.split(":")[1] == "/var/lib/hypersweep"
                   for m in mounts if ":" in m):
            problem(at, "needs a named volume at /var/lib/hypersweep")
        ports = [str(p.get("target")) if isinstance(p, dict) else str(p) for p in server.get("ports") or []]
        if not any(p == "8080" or p.endswith(":8080") for p in ports):
            problem(at, "must publish container port 8080")
        env = environment_of(server)
        for var in ("HYPERSWEEP_API_TOKEN", "HYPERSWEEP_WORKER_TOKEN"):
            if not env.get(var):
                problem(at, f"{var} must be set (from the env file)")
        if not re.fullmatch(r"\d+", str(env.get("HYPERSWEEP_WORKERS", ""))):
            problem(at, "HYPERSWEEP_WORKERS must be a number (0: remote workers only)")
        hosts = str(env.get("HYPERSWEEP_ALLOWED_HOSTS", "")).split(",")
        if "server" not in hosts:
            problem(at, "HYPERSWEEP_ALLOWED_HOSTS must hold `server`, the name the workers use")

    # PostgreSQL, for server replicas: optional, kept in a volume, healthy
    # before a server starts on it.
    postgres = services.get("postgres")
    if not postgres:
        problem(where, "no service `postgres` (the database of several server replicas)")
    else:
        at = f"{where}: services.postgres"
        if not postgres.get("profiles"):
            problem(at, "must be optional (profiles): SQLite is the default")
        mounts = [v for v in postgres.get("volumes") or [] if isinstance(v, str) and ":" in v]
        if not any(m.split(":")[0] in volumes and m.split(":")[1] == "/var/lib/postgresql/data"
                   for m in mounts):
            problem(at, "needs a named volume at /var/lib/postgresql/data")
        test = " ".join(as_list((postgres.get("healthcheck") or {}).get("test")))
        if "pg_isready" not in test:
            problem(at, "the healthcheck must ask pg_isready")
        if not environment_of(postgres).get("POSTGRES_PASSWORD") and "POSTGRES_PASSWORD" not in environment_of(postgres):
            problem(at, "POSTGRES_PASSWORD must come from the env file")
        if server:
            dep = (server.get("depends_on") or {}).get("postgres") if isinstance(server.get("depends_on"), dict) else None
            if not dep or dep.get("condition") != "service_healthy" or dep.get("required") is not False:
                problem(f"{where}: services.server",
                        "must depend on postgres with condition service_healthy, required: false")
            if "HYPERSWEEP_DATABASE" not in environment_of(server):
                problem(f"{where}: services.server", "HYPERSWEEP_DATABASE must be set (from the env file)")

    workers = {n: s for n, s in services.items() if (as_list(s.get("command")) or [""])[0] == "worker"}
    if "worker" not in workers:
        problem(where, "no service `worker` running `worker --server ...`")
    for name, svc in workers.items():
        at = f"{where}: services.{name}"
        command = as_list(svc.get("command"))
        url = command[command.index("--server") + 1] if "--server" in command[:-1] else ""
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in services or parts.port != 8080:
            problem(at, f"--server {url!r} must be http://SERVICE:8080 of a service here")
        if "container_name" in svc:
            problem(at, "container_name would keep --scale from starting more than one")
        if svc.get("ports"):
            problem(at, "a published port would keep --scale from starting more than one")
        if not environment_of(svc).get("HYPERSWEEP_WORKER_TOKEN"):
            problem(at, "HYPERSWEEP_WORKER_TOKEN must be set (from the env file)")
        if "HYPERSWEEP_API_TOKEN" in environment_of(svc):
            problem(at, "a worker needs the worker token only, not the API token")
        dep = (svc.get("depends_on") or {}).get("server") if isinstance(svc.get("depends_on"), dict) else None
        if not dep or dep.get("condition") != "service_healthy":
            problem(at, "must depend on server with condition service_healthy")
    gpu = [n for n, s in workers.items() if "--device" in as_list(s.get("command"))]
    for name in gpu:
        svc, at = services[name], f"{where}: services.{name}"
        devices = (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
        if not any(d.get("driver") == "nvidia" for d in devices):
            problem(at, "a GPU worker needs deploy.resources.reservations.devices with driver nvidia")
        if not svc.get("profiles"):
            problem(at, "a GPU worker must be optional (profiles)")
    if not gpu:
        problem(where, "no GPU worker service (`worker ... --device cuda:N`)")


# ------------------------------------------------------------- kubernetes


def pod_spec(obj):
    return (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}


def check_kubernetes(folder, config_toml):
    kustomization = os.path.join(folder, "kustomization.yaml")
    if not os.path.isfile(kustomization):
        problem(folder, "no kustomization.yaml")
        return
    (kust,) = load_yaml_all(kustomization)
    listed = kust.get("resources") or []
    present = sorted(
        f for f in os.listdir(folder)
        if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml"
    )
    for f in listed:
        if f not in present:
            problem(kustomization, f"resources lists {f}, which is not in {folder}")
    for f in present:
        if f not in listed:
            problem(kustomization, f"{f} is in {folder} but not listed in resources")
    if "namespace" in kust:
        problem(kustomization, "sets a namespace; the manifests are namespace-agnostic")

    objects = []
    for f in present:
        for doc in load_yaml_all(os.path.join(folder, f)):
            objects.append((f, doc))
    by_kind = {}
    for f, obj in objects:
        meta = obj.get("metadata") or {}
        by_kind.setdefault(obj.get("kind"), {})[meta.get("name")] = (f, obj)
        if "namespace" in meta:
            problem(f, f"{obj.get('kind')}/{meta.get('name')} sets a namespace")

    grace = shutdown_grace(config_toml)
    secrets = by_kind.get("Secret", {})
    services = by_kind.get("Service", {})
    workloads = [
        (f, obj) for f, obj in objects if obj.get("kind") in ("StatefulSet", "Deployment")
    ]

    for name, (f, secret) in secrets.items():
        for key, value in (secret.get("stringData") or {}).items():
            if not str(value).startswith("REPLACE-ME"):
                problem(f, f"Secret {name} key {key}: a shipped value must be a REPLACE-ME placeholder")

    for f, obj in workloads:
        kind, name = obj["kind"], obj["metadata"]["name"]
        at = f"{f}: {kind}/{name}"
        spec = obj.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problem(at, "spec.selector.matchLabels must match the pod template's labels")
        pod = pod_spec(obj)
        if int(pod.get("terminationGracePeriodSeconds", 30)) <= grace:
            problem(at, f"terminationGracePeriodSeconds must exceed shutdown_grace_seconds ({grace})")
        for c in pod.get("containers") or []:
            cat = f"{at} container {c.get('name')}"
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if not ref:
                    continue
                target = secrets.get(ref.get("name"))
                if not target:
                    problem(cat, f"env {e['name']}: no Secret {ref.get('name')} here")
                    continue
                keys = set((target[1].get("stringData") or {}).keys()) | set(
                    (target[1].get("data") or {}).keys()
                )
                if ref.get("key") not in keys:
                    problem(cat, f"env {e['name']}: Secret {ref.get('name')} has no key {ref.get('key')}")
            names = {m.get("name") for m in c.get("volumeMounts") or []}
            volumes = {v.get("name") for v in pod.get("volumes") or []}
            volumes |= {
                (t.get("metadata") or {}).get("name") for t in spec.get("volumeClaimTemplates") or []
            }
            for m in names - volumes:
                problem(cat, f"volumeMount {m} names no volume or volumeClaimTemplate")
            args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
            env = {e["name"]: e.get("value") for e in c.get("env") or []}
            if args[:1] == ["serve"]:
                check_server(cat, obj, c, env, services)
            elif args[:1] == ["worker"]:
                check_worker(cat, obj, c, args, services)
            else:
                problem(cat, "args must start with `serve` or `worker`")

    servers = [o for _, o in workloads if o["kind"] == "StatefulSet"]
    if len(servers) != 1:
        problem(folder, "needs exactly one server StatefulSet")
    if not any(o["kind"] == "Deployment" and "nvidia.com/gpu" in json.dumps(o) for _, o in workloads):
        problem(folder, "needs a GPU worker Deployment (nvidia.com/gpu)")
    if not any(o["kind"] == "Deployment" and "nvidia.com/gpu" not in json.dumps(o) for _, o in workloads):
        problem(folder, "needs a CPU worker Deployment")

    for name, (f, svc) in services.items():
        at = f"{f}: Service/{name}"
        selector = (svc.get("spec") or {}).get("selector") or {}
        matched = [
            o for _, o in workloads
            if selector and all(
                (((o["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}).get(k) == v
                for k, v in selector.items()
            )
        ]
        if len(matched) != 1 or matched[0]["kind"] != "StatefulSet":
            problem(at, "its selector must pick the server's pods and no others")
            continue
        ports = {
            p.get("name"): p.get("containerPort")
            for c in pod_spec(matched[0]).get("containers") or []
            for p in c.get("ports") or []
        }
        for p in (svc.get("spec") or {}).get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            if target not in ports and target not in ports.values():
                problem(at, f"targetPort {target} is no port of the server's container")


def container_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_server(at, obj, c, env, services):
    spec = obj.get("spec") or {}
    if obj["kind"] != "StatefulSet" or spec.get("replicas") != 1:
        problem(at, "the server must be a StatefulSet of 1 replica (one process opens the database)")
    if spec.get("serviceName") not in services:
        problem(at, f"serviceName {spec.get('serviceName')} names no Service here")
    if not spec.get("volumeClaimTemplates"):
        problem(at, "needs a volumeClaimTemplate for its database")
    if not any(m.get("mountPath") == "/var/lib/hypersweep" for m in c.get("volumeMounts") or []):
        problem(at, "must mount its volume at /var/lib/hypersweep")
    for probe in ("readinessProbe", "livenessProbe"):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != "/healthz" or container_port(c, get.get("port")) != 8080:
            problem(at, f"{probe} must be GET /healthz on port 8080")
    if env.get("HYPERSWEEP_LISTEN") != "0.0.0.0:8080":
        problem(at, "HYPERSWEEP_LISTEN must be 0.0.0.0:8080")
    if env.get("HYPERSWEEP_WORKERS") != "0":
        problem(at, "HYPERSWEEP_WORKERS must be \"0\" (the Deployments train)")
    names = {e["name"] for e in c.get("env") or [] if (e.get("valueFrom") or {}).get("secretKeyRef")}
    for var in ("HYPERSWEEP_API_TOKEN", "HYPERSWEEP_WORKER_TOKEN"):
        if var not in names:
            problem(at, f"{var} must come from the Secret")
    hosts = (env.get("HYPERSWEEP_ALLOWED_HOSTS") or "").split(",")
    for name in services:
        if name not in hosts:
            problem(at, f"HYPERSWEEP_ALLOWED_HOSTS must hold {name}, the Service the workers use")


def check_worker(at, obj, c, args, services):
    if obj["kind"] != "Deployment":
        problem(at, "workers must be a Deployment")
    url = args[args.index("--server") + 1] if "--server" in args[:-1] else ""
    parts = urlsplit(url)
    svc = services.get(parts.hostname)
    ports = [p.get("port") for p in ((svc or (None, {}))[1].get("spec") or {}).get("ports") or []]
    if parts.scheme != "http" or not svc or parts.port not in ports:
        problem(at, f"--server {url!r} must be http://SERVICE:PORT of the Service here")
    names = {e["name"] for e in c.get("env") or [] if (e.get("valueFrom") or {}).get("secretKeyRef")}
    if "HYPERSWEEP_WORKER_TOKEN" not in names:
        problem(at, "HYPERSWEEP_WORKER_TOKEN must come from the Secret")
    if "HYPERSWEEP_API_TOKEN" in {e["name"] for e in c.get("env") or []}:
        problem(at, "a worker needs the worker token only, not the API token")
    resources = c.get("resources") or {}
    for part in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in (resources.get(part) or {}):
                problem(at, f"resources.{part}.{what} must be set")
    gpus = (resources.get("limits") or {}).get("nvidia.com/gpu")
    if gpus is not None:
        if "--device" not in args or not args[args.index("--device") + 1].startswith("cuda:"):
            problem(at, "a GPU worker must pass --device cuda:N")
        if (obj.get("spec") or {}).get("replicas") != 0:
            problem(at, "the GPU worker Deployment ships with replicas: 0")


def check_overlay(folder):
    """The PostgreSQL overlay: it builds on the base, lists its files, and
    its patch of the server sets replicas and replaces the env entry that
    is HYPERSWEEP_DATABASE in the base with one from a Secret it ships."""
    kustomization = os.path.join(folder, "kustomization.yaml")
    (kust,) = load_yaml_all(kustomization)
    listed = kust.get("resources") or []
    if "../kubernetes" not in listed:
        problem(kustomization, "must build on the base (resources: ../kubernetes)")
    present = sorted(f for f in os.listdir(folder) if f.endswith(".yaml") and f != "kustomization.yaml")
    for f in present:
        if f not in listed:
            problem(kustomization, f"{f} is not listed in resources")
    secrets = {}
    for f in present:
        for obj in load_yaml_all(os.path.join(folder, f)):
            if obj and obj.get("kind") == "Secret":
                secrets[obj["metadata"]["name"]] = set((obj.get("stringData") or {}).keys())
    base = None
    for obj in load_yaml_all(os.path.join(folder, "..", "kubernetes", "server-statefulset.yaml")):
        if obj and obj.get("kind") == "StatefulSet":
            base = obj
    env = pod_spec(base)["containers"][0].get("env") or []
    patched = [p for p in kust.get("patches") or []
               if (p.get("target") or {}).get("name") == "hypersweep"]
    if len(patched) != 1:
        problem(kustomization, "needs one patch of the StatefulSet hypersweep")
        return
    ops = YAML(typ="safe", pure=True).load(patched[0]["patch"])
    replicas = [op for op in ops if op.get("path") == "/spec/replicas"]
    if not replicas or not isinstance(replicas[0].get("value"), int) or replicas[0]["value"] < 2:
        problem(kustomization, "the patch must set the server's replicas to 2 or more")
    database = [op for op in ops
                if isinstance(op.get("value"), dict) and op["value"].get("name") == "HYPERSWEEP_DATABASE"]
    if not database:
        problem(kustomization, "the patch must set HYPERSWEEP_DATABASE")
        return
    op = database[0]
    m = re.fullmatch(r"/spec/template/spec/containers/0/env/(\d+)", op.get("path", ""))
    if not m or int(m.group(1)) >= len(env) or env[int(m.group(1))].get("name") != "HYPERSWEEP_DATABASE":
        problem(kustomization, f"{op.get('path')} is not HYPERSWEEP_DATABASE in the base's server")
    ref = (op["value"].get("valueFrom") or {}).get("secretKeyRef") or {}
    if ref.get("key") not in secrets.get(ref.get("name"), set()):
        problem(kustomization, f"HYPERSWEEP_DATABASE's secretKeyRef {ref} names no Secret key here")


def main(argv):
    try:
        if argv[1:2] == ["compose"] and len(argv) == 6:
            check_compose(*argv[2:])
        elif argv[1:2] == ["kubernetes"] and len(argv) == 4:
            check_kubernetes(*argv[2:])
        elif argv[1:2] == ["overlay"] and len(argv) == 3:
            check_overlay(argv[2])
        else:
            sys.exit(__doc__)
    except Unreadable:
        pass
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as e:
        # A shape the schema refuses (its check says where): stop here.
        problem(argv[2], f"could not check further, a part has the wrong shape ({type(e).__name__}: {e})")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
