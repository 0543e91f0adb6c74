"""Checks deploy/ offline, without a Kubernetes cluster, Docker or a build.

- deploy/kubernetes/base: kustomization.yaml lists every file of the directory and
  every file it lists exists; each object (with the ConfigMaps and Secrets its generators
  make) is valid for Kubernetes KUBERNETES_VERSION in strict mode (kubernetes-validate:
  unknown fields are errors); the references between objects hold: Services, PDBs and
  HPAs find the workloads they name, target and probe ports are container ports,
  Secret, ConfigMap and volume references name objects and keys that exist; Quarry's
  pods use the binary's default ports, probe /healthz and /readyz, read the mounted
  quarry.toml, take the pod IP and the S3 credentials from the environment; the
  scheduler runs two replicas that can be rolled, the executor drains within its grace
  period; quarry.toml uses only the settings deploy/quarry.toml documents, and names
  Services that exist. With kubectl on PATH, `kubectl kustomize` must render the same
  objects.
- deploy/quarry.toml parses; deploy/Containerfile exposes the default ports and runs
  `quarry`; deploy/local-cluster.sh is executable and `bash -n` accepts it.

Exits 1 after listing every problem found. Run with the Python of scripts/test-env.sh
(QUARRY_PYTHON), which has kubernetes-validate.
"""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
KUBERNETES_VERSION = "1.30"

# The binary's defaults (quarry scheduler --help, quarry executor --help). The
# manifests, quarry.toml and the Containerfile must use these.
SCHEDULER_PORTS = {"flight": 32010, "postgres": 15432, "ballista": 50050, "http": 9047}
EXECUTOR_PORTS = {"flight": 50051, "grpc": 50052, "http": 9048}
DEFAULT_DRAIN_TIMEOUT = 30
SCHEDULER_REPLICAS = 2

# How each port of a role is set: (environment variable, quarry.toml key).
SCHEDULER_SETTINGS = {
    "flight": ("QUARRY_FLIGHT_PORT", "flight_port"),
    "postgres": ("QUARRY_PG_PORT", "pg_port"),
    "ballista": ("QUARRY_BALLISTA_PORT", "ballista_port"),
    "http": ("QUARRY_HTTP_PORT", "http_port"),
}
EXECUTOR_SETTINGS = {
    "flight": ("QUARRY_EXECUTOR_FLIGHT_PORT", "flight_port"),
    "grpc": ("QUARRY_EXECUTOR_GRPC_PORT", "grpc_port"),
    "http": ("QUARRY_HTTP_PORT", "http_port"),
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "secretGenerator"}

problems: list[str] = []


def problem(where: str, message: str) -> None:
    problems.append(f"{where}: {message}")


class Obj:
    """One Kubernetes object and the file it comes from."""

    def __init__(self, doc: dict, source: str):
        self.doc = doc
        self.source = source
        self.kind = doc.get("kind", "?")
        self.name = (doc.get("metadata") or {}).get("name", "?")

    @property
    def where(self) -> str:
        return f"{self.source}: {self.kind}/{self.name}"

    def pod_spec(self) -> dict | None:
        if self.kind in WORKLOAD_KINDS:
            return self.doc.get("spec", {}).get("template", {}).get("spec")
        return None

    def pod_labels(self) -> dict:
        if self.kind in WORKLOAD_KINDS:
            return self.doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        return {}

    def containers(self) -> list[dict]:
        spec = self.pod_spec() or {}
        return spec.get("initContainers", []) + spec.get("containers", [])


def selects(selector: dict | None, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_of(container: dict, ref) -> int | None:
    """The container port that `ref` (a number or a port name) means, if any."""
    for port in container.get("ports", []):
        if isinstance(ref, int) and port.get("containerPort") == ref:
            return ref
        if isinstance(ref, str) and port.get("name") == ref:
            return port.get("containerPort")
    return None


def scaled(value, total: int) -> int:
    """An int-or-percent field of a rolling update, for `total` replicas (rounded down)."""
    if isinstance(value, str) and value.endswith("%"):
        return total * int(value[:-1]) // 100
    return int(value)


# --- kustomization.yaml and the files of the base ---------------------------------------


def load_base() -> tuple[list[Obj], dict[tuple[str, str], Obj]]:
    kustomization_file = BASE / "kustomization.yaml"
    try:
        kustomization = yaml.safe_load(kustomization_file.read_text())
    except (OSError, yaml.YAMLError) as e:
        problem(str(kustomization_file.relative_to(ROOT)), f"cannot read: {e}")
        return [], {}
    where = "deploy/kubernetes/base/kustomization.yaml"
    for key in sorted(set(kustomization) - KUSTOMIZATION_KEYS):
        problem(
            where, f"`{key}` is not modelled by tests/deploy/validate.py: extend it, or set it in an overlay"
        )
    used: set[str] = {"kustomization.yaml"}
    objects: list[Obj] = []
    for resource in kustomization.get("resources", []):
        path = BASE / resource
        if not path.is_file():
            problem(where, f"resource {resource} is not a file of the base")
            continue
        used.add(resource)
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as e:
            problem(resource, f"not YAML: {e}")
            continue
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                problem(resource, "a document that is not a mapping")
                continue
            objects.append(Obj(doc, resource))
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in kustomization.get(key, []):
            obj = generate(kind, generator, where, used)
            if obj:
                objects.append(obj)
    for path in sorted(BASE.iterdir()):
        if path.name not in used:
            if path.suffix in (".yaml", ".yml"):
                problem(where, f"{path.name} is not listed in resources")
            else:
                problem(where, f"{path.name} is used by no generator")
    index: dict[tuple[str, str], Obj] = {}
    for obj in objects:
        key = (obj.kind, obj.name)
        if key in index:
            problem(obj.where, f"defined twice (also in {index[key].source})")
        index[key] = obj
    return objects, index


def generate(kind: str, generator: dict, where: str, used: set[str]) -> Obj | None:
    """The object a configMapGenerator or secretGenerator entry makes."""
    name = generator.get("name")
    for field in sorted(set(generator) - {"name", "files", "literals", "envs"}):
        problem(where, f"generator {name}: `{field}` is not modelled by validate.py")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, file = entry.rpartition("=")
        path = BASE / file
        if not path.is_file():
            problem(where, f"generator {name}: file {file} does not exist")
            continue
        used.add(file)
        data[key or Path(file).name] = path.read_text()
    for entry in generator.get("literals", []):
        key, _, value = entry.partition("=")
        data[key] = value
    for file in generator.get("envs", []):
        path = BASE / file
        if not path.is_file():
            problem(where, f"generator {name}: env file {file} does not exist")
            continue
        used.add(file)
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    doc["data" if kind == "ConfigMap" else "stringData"] = data
    return Obj(doc, f"kustomization.yaml ({kind.lower()} generator)")


# --- every object -------------------------------------------------------------------------


def check_schema(obj: Obj) -> None:
    try:
        kubernetes_validate.validate(obj.doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.absolute_path) or "(the object)"
        problem(obj.where, f"invalid for Kubernetes {KUBERNETES_VERSION} at {path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError as e:
        problem(obj.where, e.message)
    except Exception as e:  # noqa: BLE001 (whatever else the validator raises)
        problem(obj.where, f"kubernetes-validate failed: {e!r}")


def check_metadata(obj: Obj) -> None:
    metadata = obj.doc.get("metadata") or {}
    if "namespace" in metadata:
        problem(obj.where, "sets a namespace: the base is namespace-agnostic")
    if obj.source.endswith("generator)"):
        return
    labels = metadata.get("labels") or {}
    for label in ("app.kubernetes.io/name", "app.kubernetes.io/part-of"):
        if label not in labels:
            problem(obj.where, f"no label {label}")


def data_keys(obj: Obj) -> set[str]:
    return (
        set(obj.doc.get("data") or {})
        | set(obj.doc.get("stringData") or {})
        | set(obj.doc.get("binaryData") or {})
    )


def check_workload(obj: Obj, index: dict) -> None:
    spec = obj.pod_spec()
    if spec is None:
        problem(obj.where, "no pod template")
        return
    if obj.kind != "Job":
        selector = obj.doc["spec"].get("selector", {}).get("matchLabels")
        if not selects(selector, obj.pod_labels()):
            problem(obj.where, "spec.selector.matchLabels does not match the pod template's labels")
    if obj.kind == "StatefulSet":
        service = obj.doc["spec"].get("serviceName")
        if service and ("Service", service) not in index:
            problem(obj.where, f"serviceName {service}: no such Service")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in obj.doc["spec"].get("volumeClaimTemplates", [])}
    for volume in volumes.values():
        for source, kind, field in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
            if source not in volume:
                continue
            name = volume[source].get(field)
            target = index.get((kind, name))
            if target is None:
                if not volume[source].get("optional"):
                    problem(obj.where, f"volume {volume['name']}: no {kind} {name}")
                continue
            for item in volume[source].get("items", []):
                if item["key"] not in data_keys(target):
                    problem(obj.where, f"volume {volume['name']}: {kind} {name} has no key {item['key']}")
    for container in obj.containers():
        where = f"{obj.where}, container {container.get('name')}"
        names = [p.get("name") for p in container.get("ports", []) if p.get("name")]
        numbers = [p.get("containerPort") for p in container.get("ports", [])]
        if len(set(names)) != len(names) or len(set(numbers)) != len(numbers):
            problem(where, "port names or numbers repeat")
        for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(probe_name)
            if not probe:
                continue
            for handler in ("httpGet", "tcpSocket", "grpc"):
                if handler in probe and port_of(container, probe[handler].get("port")) is None:
                    problem(where, f"{probe_name} port {probe[handler].get('port')} is no container port")
        for env in container.get("env", []):
            source = env.get("valueFrom") or {}
            for ref, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if ref not in source:
                    continue
                name, key = source[ref].get("name"), source[ref].get("key")
                target = index.get((kind, name))
                if source[ref].get("optional"):
                    continue
                if target is None:
                    problem(where, f"env {env['name']}: no {kind} {name}")
                elif key not in data_keys(target):
                    problem(where, f"env {env['name']}: {kind} {name} has no key {key}")
        for env_from in container.get("envFrom", []):
            for ref, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                missing = ref in env_from and (kind, env_from[ref].get("name")) not in index
                if missing and not env_from[ref].get("optional"):
                    problem(where, f"envFrom: no {kind} {env_from[ref].get('name')}")
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes and mount["name"] not in claims:
                problem(where, f"volumeMount {mount['name']}: no such volume")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(part, {}):
                    problem(where, f"no {part}.{resource}")
        image = container.get("image", "")
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        if repository.split("/")[-1] != "quarry" and tag in ("", "latest"):
            problem(where, f"image {image}: pin a version")


def check_service(obj: Obj, workloads: list[Obj]) -> None:
    selector = obj.doc.get("spec", {}).get("selector")
    matched = [w for w in workloads if selects(selector, w.pod_labels())]
    if not matched:
        problem(obj.where, f"selector {selector} matches no workload's pods")
    for port in obj.doc.get("spec", {}).get("ports", []):
        target = port.get("targetPort", port.get("port"))
        for workload in matched:
            if not any(port_of(c, target) for c in workload.containers()):
                problem(
                    obj.where, f"targetPort {target} is no container port of {workload.kind}/{workload.name}"
                )


def check_pdb(obj: Obj, workloads: list[Obj]) -> None:
    selector = obj.doc.get("spec", {}).get("selector", {})
    if "matchExpressions" in selector:
        problem(obj.where, "matchExpressions are not modelled by validate.py")
    matched = [w for w in workloads if selects(selector.get("matchLabels"), w.pod_labels())]
    if len(matched) != 1:
        names = ", ".join(f"{w.kind}/{w.name}" for w in matched) or "none"
        problem(obj.where, f"selects the pods of one workload, not: {names}")


def check_hpa(obj: Obj, index: dict) -> None:
    spec = obj.doc.get("spec", {})
    ref = spec.get("scaleTargetRef", {})
    target = index.get((ref.get("kind"), ref.get("name")))
    if target is None or target.kind not in WORKLOAD_KINDS:
        problem(obj.where, f"scaleTargetRef {ref.get('kind')}/{ref.get('name')}: no such workload")
        return
    if ref.get("apiVersion") != target.doc.get("apiVersion"):
        problem(
            obj.where,
            f"scaleTargetRef apiVersion {ref.get('apiVersion')} is not {target.doc.get('apiVersion')}",
        )
    if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
        problem(obj.where, "minReplicas above maxReplicas")
    if "replicas" in target.doc.get("spec", {}):
        problem(
            target.where,
            f"sets replicas, which HorizontalPodAutoscaler/{obj.name} owns: "
            "every apply would reset its count",
        )
    for metric in spec.get("metrics", []):
        resource = metric.get("resource", {})
        if metric.get("type") == "Resource" and resource.get("target", {}).get("type") == "Utilization":
            for container in target.containers():
                if resource.get("name") not in container.get("resources", {}).get("requests", {}):
                    problem(
                        obj.where,
                        f"{resource.get('name')} utilization of a container without a "
                        f"{resource.get('name')} request ({container.get('name')})",
                    )


# --- quarry.toml ----------------------------------------------------------------------------


def documented_settings(path: Path) -> dict[str, set[str]]:
    """Each section's settings in deploy/quarry.toml, set or shown commented out."""
    sections: dict[str, set[str]] = {"": set()}
    section = ""
    for line in path.read_text().splitlines():
        heading = re.match(r"^\s*\[(\w+)\]", line)
        if heading:
            section = heading.group(1)
            sections.setdefault(section, set())
            continue
        setting = re.match(r"^\s*#?\s*([a-z_]+)\s*=", line)
        if setting:
            sections[section].add(setting.group(1))
    return sections


def check_settings(config: dict, documented: dict[str, set[str]], where: str) -> None:
    for key, value in config.items():
        if isinstance(value, dict):
            if key not in documented:
                problem(where, f"[{key}] is not a section deploy/quarry.toml documents")
                continue
            for setting in value:
                if setting not in documented[key]:
                    problem(
                        where,
                        f"[{key}] {setting} is not documented in deploy/quarry.toml "
                        "(the binary refuses settings it does not know)",
                    )
        elif key not in documented[""]:
            problem(where, f"{key} is not documented in deploy/quarry.toml")


def check_endpoint(url: str, index: dict, where: str) -> None:
    """An http://name:port URL names a Service of the base with that port."""
    match = re.match(r"^https?://([^/:]+):(\d+)/?$", url)
    if not match:
        problem(where, f"{url}: expected http://host:port")
        return
    host, port = match.group(1), int(match.group(2))
    if "." in host:  # outside the base: nothing to check
        return
    service = index.get(("Service", host))
    if service is None:
        problem(where, f"{url}: no Service {host}")
    elif port not in [p.get("port") for p in service.doc["spec"].get("ports", [])]:
        problem(where, f"{url}: Service {host} has no port {port}")


# --- Quarry's own workloads -------------------------------------------------------------------


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def quarry_container(obj: Obj) -> dict | None:
    for container in obj.pod_spec().get("containers", []) if obj.pod_spec() else []:
        repository = container.get("image", "").split("/")[-1].split(":")[0]
        if repository == "quarry":
            return container
    return None


def mounted_config(obj: Obj, container: dict, index: dict, where: str) -> dict | None:
    """The quarry.toml that QUARRY_CONFIG names, from the ConfigMap mounted there."""
    env = env_of(container)
    path = env.get("QUARRY_CONFIG", {}).get("value")
    if not path:
        problem(where, "no QUARRY_CONFIG")
        return None
    directory, _, file = path.rpartition("/")
    volumes = {v["name"]: v for v in obj.pod_spec().get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        if mount["mountPath"].rstrip("/") != directory or "subPath" in mount:
            continue
        config_map = volumes.get(mount["name"], {}).get("configMap")
        if not config_map:
            break
        target = index.get(("ConfigMap", config_map.get("name")))
        if target is None:
            return None  # reported with the volumes
        items = {i["key"]: i["path"] for i in config_map.get("items", [])}
        key = next((k for k, p in items.items() if p == file), None) if items else file
        text = (target.doc.get("data") or {}).get(key)
        if text is None:
            problem(where, f"QUARRY_CONFIG {path}: ConfigMap {target.name} has no key {file}")
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            problem(where, f"QUARRY_CONFIG {path}: not TOML: {e}")
            return None
    problem(where, f"QUARRY_CONFIG {path}: no ConfigMap is mounted at {directory}")
    return None


def setting(container: dict, config: dict, section: str, variable: str, key: str, default):
    """What the process uses: its environment, else quarry.toml, else the default."""
    env = env_of(container).get(variable)
    if env is not None and "value" in env:
        return int(env["value"]) if isinstance(default, int) else env["value"]
    return config.get(section, {}).get(key, default)


def check_quarry(obj: Obj, role: str, container: dict, index: dict, objects: list[Obj]) -> dict | None:
    where = f"{obj.where}, container {container.get('name')}"
    config = mounted_config(obj, container, index, where)
    if config is None:
        return None  # the rest depends on it
    env = env_of(container)
    advertise = env.get("QUARRY_ADVERTISE_HOST", {})
    if advertise.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "status.podIP":
        problem(where, "QUARRY_ADVERTISE_HOST must come from the pod's IP (fieldRef status.podIP)")
    for variable in ("QUARRY_S3_ACCESS_KEY_ID", "QUARRY_S3_SECRET_ACCESS_KEY"):
        if "secretKeyRef" not in env.get(variable, {}).get("valueFrom", {}):
            problem(where, f"{variable} must come from a Secret")
    bind = env.get("QUARRY_BIND", {}).get("value") or config.get(role, {}).get("bind")
    if bind != "0.0.0.0":
        problem(where, f"binds {bind or '127.0.0.1'}: other pods cannot reach it; bind 0.0.0.0")

    expected, settings = (
        (SCHEDULER_PORTS, SCHEDULER_SETTINGS) if role == "scheduler" else (EXECUTOR_PORTS, EXECUTOR_SETTINGS)
    )
    ports = {name: setting(container, config, role, *settings[name], expected[name]) for name in expected}
    if ports != expected:
        problem(where, f"the process listens on {ports}, not the defaults {expected}")
    declared = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    if declared != ports:
        problem(where, f"containerPorts {declared} are not the ports the process listens on {ports}")
    for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http_get = container.get(probe_name, {}).get("httpGet", {})
        if http_get.get("path") != path or port_of(container, http_get.get("port")) != ports["http"]:
            problem(where, f"{probe_name} must be GET {path} on port {ports['http']}")
    annotations = obj.doc["spec"]["template"].get("metadata", {}).get("annotations", {})
    if "prometheus.io/port" in annotations and annotations["prometheus.io/port"] != str(ports["http"]):
        problem(obj.where, f"prometheus.io/port is not the HTTP port {ports['http']}")
    if not (obj.pod_spec().get("securityContext") or {}).get("runAsNonRoot"):
        problem(obj.where, "runAsNonRoot is not set")

    spec = obj.doc["spec"]
    pdbs = [
        o
        for o in objects
        if o.kind == "PodDisruptionBudget"
        and selects(o.doc["spec"].get("selector", {}).get("matchLabels"), obj.pod_labels())
    ]
    if not pdbs:
        problem(obj.where, "no PodDisruptionBudget")
    if role == "scheduler":
        replicas = spec.get("replicas", 1)
        if replicas != SCHEDULER_REPLICAS:
            problem(obj.where, f"{replicas} replicas, not {SCHEDULER_REPLICAS} (a leader and a standby)")
        strategy = spec.get("strategy", {})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            unavailable = scaled(strategy.get("rollingUpdate", {}).get("maxUnavailable", "25%"), replicas)
            if unavailable < replicas:
                problem(
                    obj.where,
                    "only the leader is ever ready, so a rolling update must allow every "
                    f"pod to be unavailable (maxUnavailable {replicas} or 100%), or it never ends",
                )
        if "podAntiAffinity" not in (obj.pod_spec().get("affinity") or {}):
            problem(obj.where, "no podAntiAffinity: both schedulers may land on one node")
        for pdb in pdbs:
            if pdb.doc["spec"].get("minAvailable") != 1:
                problem(pdb.where, "minAvailable must be 1")
        services = [
            o
            for o in objects
            if o.kind == "Service" and selects(o.doc["spec"].get("selector"), obj.pod_labels())
        ]
        served = {
            (p.get("port"), port_of(container, p.get("targetPort", p.get("port"))))
            for s in services
            for p in s.doc["spec"].get("ports", [])
        }
        for name in ("flight", "postgres"):
            if (ports[name], ports[name]) not in served:
                problem(obj.where, f"no Service serves the {name} port {ports[name]}")
        if not config.get("catalog", {}).get("etcd"):
            problem(where, "quarry.toml has no [catalog] etcd: schedulers elect their leader there")
    else:
        drain = setting(
            container, config, "executor", "QUARRY_DRAIN_TIMEOUT", "drain_timeout", DEFAULT_DRAIN_TIMEOUT
        )
        grace = obj.pod_spec().get("terminationGracePeriodSeconds", 30)
        if grace <= int(drain):
            problem(
                obj.where,
                f"terminationGracePeriodSeconds {grace} must exceed the drain timeout "
                f"{drain}, or Kubernetes kills executors while they drain",
            )
        work_dir = setting(container, config, "executor", "QUARRY_WORK_DIR", "work_dir", None)
        volumes = {v["name"]: v for v in obj.pod_spec().get("volumes", [])}
        mounts = {m["mountPath"].rstrip("/"): m["name"] for m in container.get("volumeMounts", [])}
        if not work_dir or "emptyDir" not in volumes.get(mounts.get(str(work_dir).rstrip("/")), {}):
            problem(where, f"work_dir {work_dir} must be an emptyDir mount")
        if not any(
            o.kind == "HorizontalPodAutoscaler"
            and o.doc["spec"].get("scaleTargetRef", {}).get("name") == obj.name
            for o in objects
        ):
            problem(obj.where, "no HorizontalPodAutoscaler")
    return config


def check_cluster_config(config: dict, index: dict, objects: list[Obj]) -> None:
    where = "deploy/kubernetes/base/quarry.toml"
    check_settings(config, documented_settings(DEPLOY / "quarry.toml"), where)
    for url in config.get("catalog", {}).get("etcd", []):
        check_endpoint(url, index, where)
    endpoint = config.get("s3", {}).get("endpoint")
    if endpoint:
        check_endpoint(endpoint, index, where)
    warehouse = config.get("warehouse", "")
    bucket = re.match(r"^s3://([^/]+)", warehouse)
    for obj in objects:
        if obj.kind != "Job":
            continue
        for container in obj.containers():
            env = {k: v.get("value") for k, v in env_of(container).items()}
            if "BUCKET" in env and (not bucket or env["BUCKET"] != bucket.group(1)):
                problem(obj.where, f"creates bucket {env['BUCKET']}, not the warehouse's ({warehouse})")
            if "S3_ENDPOINT" in env and env["S3_ENDPOINT"] != endpoint:
                problem(obj.where, f"S3_ENDPOINT {env['S3_ENDPOINT']} is not quarry.toml's {endpoint}")
    # MinIO refuses short root credentials.
    for obj in objects:
        for container in obj.containers():
            for variable, least in (("MINIO_ROOT_USER", 3), ("MINIO_ROOT_PASSWORD", 8)):
                ref = env_of(container).get(variable, {}).get("valueFrom", {}).get("secretKeyRef")
                secret = index.get(("Secret", ref.get("name"))) if ref else None
                if secret:
                    value = {**(secret.doc.get("data") or {}), **(secret.doc.get("stringData") or {})}
                    if len(str(value.get(ref.get("key"), ""))) < least:
                        problem(secret.where, f"{ref.get('key')}: MinIO needs {least} characters at least")


# --- the rest of deploy/ ------------------------------------------------------------------------


def check_containerfile(run_as_users: set) -> None:
    where = "deploy/Containerfile"
    try:
        text = (DEPLOY / "Containerfile").read_text()
    except OSError as e:
        problem(where, f"cannot read: {e}")
        return
    exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", text, re.MULTILINE) for p in line.split()}
    wanted = set(SCHEDULER_PORTS.values()) | set(EXECUTOR_PORTS.values())
    if exposed != wanted:
        problem(where, f"EXPOSEs {sorted(exposed)}, not the default ports {sorted(wanted)}")
    if not re.search(r'^ENTRYPOINT \["quarry"\]$', text, re.MULTILINE):
        problem(where, 'no ENTRYPOINT ["quarry"]')
    if "cargo build --release --locked --bin quarry --features quarry-client/etcd" not in text:
        problem(where, "does not build `--release --locked --bin quarry --features quarry-client/etcd`")
    user = re.findall(r"^USER\s+(\d+)", text, re.MULTILINE)
    if not user or {int(user[-1])} != run_as_users:
        problem(
            where, f"USER {user[-1] if user else '(none)'} is not the pods' runAsUser {sorted(run_as_users)}"
        )


def check_script() -> None:
    script = DEPLOY / "local-cluster.sh"
    if not script.is_file():
        problem("deploy/local-cluster.sh", "missing")
        return
    if not script.stat().st_mode & 0o111:
        problem("deploy/local-cluster.sh", "not executable")
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        problem("deploy/local-cluster.sh", f"bash -n: {result.stderr.strip()}")


def check_kustomize(objects: list[Obj]) -> str:
    """`kubectl kustomize` renders the objects validate.py checked."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return "kubectl not found: kustomize rendering not checked"
    try:
        result = subprocess.run(
            [kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        problem("kubectl kustomize", str(e))
        return ""
    if result.returncode != 0:
        problem("kubectl kustomize deploy/kubernetes/base", result.stderr.strip())
        return ""
    generated = {o.name for o in objects if o.source.endswith("generator)")}
    rendered = set()
    for doc in yaml.safe_load_all(result.stdout):
        if doc:
            name = doc["metadata"]["name"]
            base_name = name.rsplit("-", 1)[0]
            rendered.add((doc["kind"], base_name if base_name in generated else name))
    checked = {(o.kind, o.name) for o in objects}
    if rendered != checked:
        problem(
            "kubectl kustomize deploy/kubernetes/base",
            f"renders {sorted(rendered - checked)} more and {sorted(checked - rendered)} fewer "
            "objects than validate.py read",
        )
    return "kubectl kustomize renders the same objects"


def guarded(where: str, check, *args):
    """Runs a check; an object too malformed for it is a problem, not a traceback."""
    try:
        return check(*args)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as e:
        problem(where, f"cannot be checked ({check.__name__}: {type(e).__name__} {e}): malformed?")
        return None


def main() -> int:
    for path in (DEPLOY / "quarry.toml", BASE / "quarry.toml"):
        try:
            tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            problem(str(path.relative_to(ROOT)), f"not valid TOML: {e}")

    objects, index = load_base()
    for obj in objects:
        check_schema(obj)
        guarded(obj.where, check_metadata, obj)
    workloads = [o for o in objects if o.kind in WORKLOAD_KINDS]
    for obj in workloads:
        guarded(obj.where, check_workload, obj, index)
    for obj in objects:
        if obj.kind == "Service":
            guarded(obj.where, check_service, obj, workloads)
        elif obj.kind == "PodDisruptionBudget":
            guarded(obj.where, check_pdb, obj, workloads)
        elif obj.kind == "HorizontalPodAutoscaler":
            guarded(obj.where, check_hpa, obj, index)

    roles: dict[str, list[Obj]] = {"scheduler": [], "executor": []}
    configs = []
    run_as_users = set()
    for obj in workloads:
        container = quarry_container(obj)
        if container is None:
            continue
        role = (container.get("args") or [None])[0]
        if role not in roles:
            problem(obj.where, f"runs `quarry {role}`: expected scheduler or executor")
            continue
        roles[role].append(obj)
        config = guarded(obj.where, check_quarry, obj, role, container, index, objects)
        if config is not None:
            configs.append(config)
        run_as_users.add((obj.pod_spec().get("securityContext") or {}).get("runAsUser"))
    for role, found in roles.items():
        if len(found) != 1:
            problem("deploy/kubernetes/base", f"{len(found)} workloads run `quarry {role}`, not 1")
    if configs:
        if any(c != configs[0] for c in configs):
            problem("deploy/kubernetes/base", "Quarry's pods read different quarry.toml files")
        guarded("deploy/kubernetes/base/quarry.toml", check_cluster_config, configs[0], index, objects)

    check_containerfile(run_as_users)
    check_script()
    kustomize = check_kustomize(objects) if objects else ""

    if problems:
        print(f"deploy: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    files = len({o.source for o in objects})
    print(
        f"deploy: {len(objects)} objects from {files} sources valid for Kubernetes {KUBERNETES_VERSION} "
        f"(strict); references, ports, probes and quarry.toml consistent; Containerfile and "
        f"local-cluster.sh checked; {kustomize}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
