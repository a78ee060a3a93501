"""The deployment manifests in deploy/: valid against the API schemas (offline), and in step with the service they run.

deploy/kubernetes/ is checked against the Kubernetes JSON schemas that kubernetes-validate ships (strict: an unknown
or misspelt field fails instead of being dropped by the API server). deploy/kserve/inferenceservice.yaml is a KServe
custom resource, which no Kubernetes schema knows: its KServe fields are checked against a schema written here from
KServe's Go types (pkg/apis/serving/v1beta1: PredictorSpec, ComponentExtensionSpec, CustomPredictor), and the PodSpec
that KServe embeds in the predictor against Kubernetes' own PodSpec schema. Both are then compared with what the
service really does: config.py, the Dockerfile, the README's image name and the routes the Flask app serves.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

import config
from tooling.kube import manifest_env, quantity

KUBERNETES_DIR = config.REPO_ROOT / "deploy" / "kubernetes"
INFERENCE_SERVICE = config.REPO_ROOT / "deploy" / "kserve" / "inferenceservice.yaml"
# The same predictor serving the Open Inference Protocol over gRPC (Knative routes one port: an h2c one).
GRPC_INFERENCE_SERVICE = config.REPO_ROOT / "deploy" / "kserve" / "inferenceservice-grpc.yaml"
INFERENCE_SERVICES = {"http": INFERENCE_SERVICE, "grpc": GRPC_INFERENCE_SERVICE}
DOCKERFILE = config.REPO_ROOT / "Dockerfile"
README = config.REPO_ROOT / "README.md"
# The newest Kubernetes whose schemas kubernetes-validate (pinned in requirements-dev.txt) ships.
KUBERNETES_VERSION = "1.37.0"

# The probe routes of the Open Inference Protocol (KServe V2) that the pods are checked with.
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
SETTING_NAMES = {f.name.upper() for f in dataclasses.fields(config.Settings)}
# Environment variables the manifests may set that config.py does not read, and who reads them.
EXTERNAL_ENV = {
    "PROTOCOL": "KServe: which protocol a custom predictor speaks",
    "MALLOC_ARENA_MAX": "glibc's allocator",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client's multi-process mode",
}

# KServe's ComponentExtensionSpec fields that the predictor may use, typed as in KServe's Go types and CRD. A field
# KServe has but this list lacks (logger, batcher, deploymentStrategy, ...) fails the test: add it here first.
PREDICTOR_EXTENSION_FIELDS = {
    "minReplicas": {"type": "integer", "minimum": 0},
    "maxReplicas": {"type": "integer", "minimum": 0},
    "scaleTarget": {"type": "integer", "minimum": 1},
    "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
    "containerConcurrency": {"type": "integer", "minimum": 0},
    "timeout": {"type": "integer", "minimum": 1},
    "canaryTrafficPercent": {"type": "integer", "minimum": 0, "maximum": 100},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
}
# PredictorSpec's model-server implementations: a custom predictor (a PodSpec with kserve-container) uses none.
PREDICTOR_IMPLEMENTATION_FIELDS = {
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "pmml",
    "lightgbm",
    "paddle",
    "model",
    "storageUris",
    "workerSpec",
}
INFERENCE_SERVICE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        # KServe's own rule for InferenceService names (InvalidISVCNameFormatError).
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": r"^[a-z]([-a-z0-9]*[a-z0-9])?$"}},
        },
        "spec": {
            "type": "object",
            "required": ["predictor"],
            "additionalProperties": False,
            "properties": {"predictor": {"type": "object"}},
        },
    },
}
PREDICTOR_EXTENSION_SCHEMA = {"type": "object", "properties": PREDICTOR_EXTENSION_FIELDS, "additionalProperties": False}
# Knative Serving (KServe's default Serverless mode) reserves these ports for its queue-proxy sidecar.
KNATIVE_RESERVED_PORTS = {8012, 8013, 8022, 9090, 9091}


def load_documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def kubernetes_manifests() -> list[Path]:
    return sorted(path for path in KUBERNETES_DIR.glob("*.yaml") if path.name != "kustomization.yaml")


def kubernetes_resource(kind: str) -> dict:
    found = [
        document for path in kubernetes_manifests() for document in load_documents(path) if document["kind"] == kind
    ]
    assert len(found) == 1, f"expected one {kind} in {KUBERNETES_DIR}, found {len(found)}"
    return found[0]


def inference_service(path: Path = INFERENCE_SERVICE) -> dict:
    (document,) = load_documents(path)
    return document


def deployment_pod_spec() -> dict:
    return kubernetes_resource("Deployment")["spec"]["template"]["spec"]


def predictor_pod_spec(path: Path = INFERENCE_SERVICE) -> dict:
    """The part of the KServe predictor that is a Kubernetes PodSpec (KServe inlines one)."""
    predictor = inference_service(path)["spec"]["predictor"]
    return {
        key: value
        for key, value in predictor.items()
        if key not in PREDICTOR_EXTENSION_FIELDS and key not in PREDICTOR_IMPLEMENTATION_FIELDS
    }


def only_container(pod_spec: dict) -> dict:
    (container,) = pod_spec["containers"]
    return container


POD_SPECS = {"deployment": deployment_pod_spec, "inferenceservice": predictor_pod_spec}


def serving_port(container: dict) -> dict:
    """The HTTP port: the one named http where there are several (the Deployment's http and grpc)."""
    if len(container["ports"]) == 1:
        return container["ports"][0]
    return next(port for port in container["ports"] if port.get("name") == "http")


def probe_port(container: dict, probe: dict) -> int:
    """The container port number a httpGet probe targets; a named port is looked up in the container's ports."""
    port = probe["httpGet"]["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p.get("name") == port)
    return port


def dockerfile_instruction(name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+(.+?)\s*$", DOCKERFILE.read_text(), flags=re.MULTILINE | re.IGNORECASE)


def serves_get(app, path: str) -> bool:
    """Whether a view of the app answers GET on path. maxfw serves static files from the root (/<path:filename>),
    which matches any path: a match on a static-file rule does not count."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method="GET")
    except (NotFound, MethodNotAllowed, RequestRedirect):
        return False
    return endpoint != "static" and not endpoint.endswith(".static")


# --- Schemas ---


@pytest.mark.parametrize("path", kubernetes_manifests(), ids=lambda path: path.name)
def test_kubernetes_manifest_is_valid_against_the_api_schema(path):
    """Every resource matches Kubernetes' strict schema, offline: a wrong type, a missing required field or a
    misspelt field name fails here instead of at `kubectl apply` (or, worse, being silently dropped)."""
    documents = load_documents(path)
    assert documents, f"{path.name} holds no resource"
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_a_misspelt_field():
    """The validation above really bites: a field Kubernetes does not know (readinessprobe for readinessProbe) is
    rejected, so a passing manifest is not just one the validator skipped."""
    deployment = kubernetes_resource("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {"httpGet": {"path": "/", "port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    """`kubectl apply -k deploy/kubernetes` applies exactly the manifests in the folder: a new file that is not
    listed would never be applied, and a listed file that is gone breaks the apply."""
    (kustomization,) = load_documents(KUBERNETES_DIR / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [path.name for path in kubernetes_manifests()]
    kinds = sorted(document["kind"] for path in kubernetes_manifests() for document in load_documents(path))
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "Service"]


@pytest.mark.parametrize("path", INFERENCE_SERVICES.values(), ids=INFERENCE_SERVICES.keys())
def test_inference_service_matches_kserve_custom_predictor_schema(path):
    """The InferenceService has the shape KServe accepts for a custom predictor: KServe's own fields with their
    types, no model-format implementation beside the container, and a predictor whose remaining fields form a valid
    Kubernetes PodSpec (strict, so a field KServe would prune, such as a misplaced protocolVersion, fails)."""
    service = inference_service(path)
    jsonschema.validate(service, INFERENCE_SERVICE_SCHEMA)
    predictor = service["spec"]["predictor"]
    assert not PREDICTOR_IMPLEMENTATION_FIELDS & predictor.keys(), "a custom predictor is a container, nothing else"
    extensions = {key: value for key, value in predictor.items() if key in PREDICTOR_EXTENSION_FIELDS}
    jsonschema.validate(extensions, PREDICTOR_EXTENSION_SCHEMA)
    if "maxReplicas" in extensions:
        assert extensions.get("minReplicas", 1) <= extensions["maxReplicas"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": service["metadata"], "spec": predictor_pod_spec(path)}
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", INFERENCE_SERVICES.values(), ids=INFERENCE_SERVICES.keys())
def test_inference_service_is_a_v2_custom_predictor_knative_accepts(path):
    """KServe runs a custom predictor from the container named kserve-container and learns its protocol from the
    PROTOCOL variable; in Serverless mode Knative also refuses lifecycle hooks, terminationGracePeriodSeconds, a
    second port, a port name other than http1/h2c and its own queue-proxy ports."""
    pod_spec = predictor_pod_spec(path)
    container = only_container(pod_spec)
    assert container["name"] == "kserve-container"
    assert manifest_env(container).get("PROTOCOL") == "v2"
    assert "lifecycle" not in container and "terminationGracePeriodSeconds" not in pod_spec
    port = serving_port(container)
    assert port.get("name", "") in {"", "http1", "h2c"} and port.get("protocol", "TCP") == "TCP"
    assert port["containerPort"] not in KNATIVE_RESERVED_PORTS


# --- In step with the service ---


@pytest.mark.parametrize("manifest", POD_SPECS)
def test_container_port_is_the_one_the_service_listens_on(manifest):
    """The container port, every probe's port and the Prometheus port annotation are the port gunicorn binds
    (config.SETTINGS.port) and the Dockerfile EXPOSEs; a manifest that sets PORT must set it to the same port."""
    container = only_container(POD_SPECS[manifest]())
    port = serving_port(container)["containerPort"]
    assert port == config.SETTINGS.port
    assert dockerfile_instruction("EXPOSE") == [f"{config.SETTINGS.port} {config.SETTINGS.grpc_port}"]
    assert int(manifest_env(container).get("PORT", port)) == port
    for probe in PROBES:
        assert probe_port(container, container[probe]) == port, probe
    if manifest == "deployment":
        annotations = kubernetes_resource("Deployment")["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
    else:
        assert inference_service()["spec"]["predictor"]["annotations"]["prometheus.kserve.io/port"] == str(port)


@pytest.mark.parametrize("manifest", POD_SPECS)
def test_probe_paths_are_routes_the_app_serves(app, manifest):
    """Startup and readiness probes ask the V2 readiness route, the liveness probe the V2 liveness route, and the
    app answers GET on both: a probe on a missing route (404) would keep every pod unready, or restart it forever.
    A liveness probe on the readiness route would restart pods that are only busy or still loading."""
    container = only_container(POD_SPECS[manifest]())
    paths = {probe: container[probe]["httpGet"]["path"] for probe in PROBES}
    assert paths == {"startupProbe": READY_PATH, "readinessProbe": READY_PATH, "livenessProbe": LIVE_PATH}
    missing = sorted(path for path in set(paths.values()) if not serves_get(app, path))
    assert not missing, f"the app has no GET route for {missing}"


def test_prometheus_annotation_points_at_served_metrics(client):
    """The scrape annotations name a path the app answers with 200, so Prometheus does not scrape a 404."""
    path = kubernetes_resource("Deployment")["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]
    assert inference_service()["spec"]["predictor"]["annotations"]["prometheus.kserve.io/path"] == path
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("manifest", POD_SPECS)
def test_container_runs_as_the_dockerfile_user_with_least_privilege(manifest):
    """The pod runs as the image's own unprivileged user (the Dockerfile's USER uid:gid, which owns nothing it
    could rewrite), cannot gain privileges, has no capabilities, a read-only root and the runtime's seccomp
    filter: the Pod Security Standard "restricted" profile."""
    user = dockerfile_instruction("USER")[-1]
    uid, _, gid = user.partition(":")
    security = only_container(POD_SPECS[manifest]())["securityContext"]
    assert security["runAsUser"] == int(uid) and security["runAsUser"] != 0
    assert security.get("runAsGroup") == int(gid or uid)
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("manifest", POD_SPECS)
def test_writable_paths_are_emptydir_volumes(manifest):
    """With a read-only root filesystem, /tmp (gunicorn's worker heartbeats, spooled uploads, TensorFlow's and
    Keras's files) and the Prometheus multi-process directory must be on a mounted emptyDir, or the server fails."""
    pod_spec = POD_SPECS[manifest]()
    container = only_container(pod_spec)
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
    writable = []
    for mount in container.get("volumeMounts", []):
        assert mount["name"] in volumes, f"volumeMount {mount['name']} has no volume"
        if "emptyDir" in volumes[mount["name"]] and not mount.get("readOnly"):
            writable.append(mount["mountPath"].rstrip("/"))
    assert "/tmp" in writable
    multiproc_dir = manifest_env(container)["PROMETHEUS_MULTIPROC_DIR"]
    assert any(multiproc_dir == path or multiproc_dir.startswith(path + "/") for path in writable)


def test_termination_grace_period_covers_prestop_and_gunicorn_drain():
    """Kubernetes kills the container terminationGracePeriodSeconds after deletion starts; that must outlast the
    preStop sleep plus gunicorn's graceful timeout, or in-flight predictions are cut off during every rollout."""
    pod_spec = deployment_pod_spec()
    container = only_container(pod_spec)
    pre_stop = container["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        sleep_s = pre_stop["sleep"]["seconds"]
    else:
        command = pre_stop["exec"]["command"]
        assert Path(command[0]).name == "sleep", f"preStop is not a sleep: {command}"
        sleep_s = int(command[1])
    graceful_s = int(manifest_env(container).get("GRACEFUL_TIMEOUT", config.SETTINGS.graceful_timeout))
    assert sleep_s > 0
    assert pod_spec["terminationGracePeriodSeconds"] > sleep_s + graceful_s


def test_service_and_autoscaler_reach_the_deployment():
    """The Service's selector picks the Deployment's pods and its targetPort is their named port; the
    Deployment's selector matches its own template; the autoscaler scales this Deployment, which leaves the
    replica count to it and requests CPU (a CPU utilisation target is a share of the request)."""
    deployment = kubernetes_resource("Deployment")
    service = kubernetes_resource("Service")
    autoscaler = kubernetes_resource("HorizontalPodAutoscaler")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = only_container(deployment_pod_spec())
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= {p["name"] for p in container["ports"]}
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert "replicas" not in deployment["spec"], "a fixed replica count would fight the autoscaler on each apply"
    assert autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
    assert quantity(container["resources"]["requests"]["cpu"]) > 0


@pytest.mark.parametrize("manifest", POD_SPECS)
def test_environment_names_are_settings_something_reads(manifest):
    """Every variable the manifest sets is a config.Settings field or one a named library reads: a misspelt WORKER
    or THREAD would be ignored without a word, and the pod would run with the defaults."""
    unknown = [
        name
        for name in manifest_env(only_container(POD_SPECS[manifest]()))
        if name not in SETTING_NAMES and name not in EXTERNAL_ENV
    ]
    assert not unknown


def test_grpc_is_served_on_the_port_the_workers_bind():
    """gRPC: the Deployment's port named grpc, the Service's h2c port in front of it, and the gRPC InferenceService's
    one h2c port are GRPC_PORT (what the workers bind); that InferenceService runs the HTTP one's container."""
    grpc_port = config.SETTINGS.grpc_port
    ports = {port["name"]: port["containerPort"] for port in only_container(deployment_pod_spec())["ports"]}
    assert ports == {"http": config.SETTINGS.port, "grpc": grpc_port}
    service_ports = {port["name"]: port for port in kubernetes_resource("Service")["spec"]["ports"]}
    assert service_ports["grpc"]["targetPort"] == "grpc"
    assert service_ports["grpc"]["appProtocol"] == "kubernetes.io/h2c"
    grpc_container = only_container(predictor_pod_spec(GRPC_INFERENCE_SERVICE))
    assert grpc_container["ports"] == [{"name": "h2c", "containerPort": grpc_port, "protocol": "TCP"}]
    assert int(manifest_env(grpc_container).get("GRPC_PORT", grpc_port)) == grpc_port
    http_container = only_container(predictor_pod_spec())
    for field in ("image", "imagePullPolicy", "securityContext", "resources", "env", "volumeMounts"):
        assert grpc_container[field] == http_container[field], field


def test_knative_concurrency_is_the_servers_concurrency():
    """containerConcurrency caps the requests Knative sends one pod at WORKERS x THREADS, what gunicorn serves at
    once; more would queue unseen inside gunicorn, fewer would leave threads idle."""
    env = manifest_env(only_container(predictor_pod_spec()))
    concurrency = int(env.get("WORKERS", config.SETTINGS.workers)) * int(env.get("THREADS", config.SETTINGS.threads))
    assert inference_service()["spec"]["predictor"]["containerConcurrency"] == concurrency


def test_kserve_and_deployment_run_the_same_container():
    """Both manifests run the same image with the same settings, security, resources and probe routes, so the two
    ways of deploying do not drift apart (KServe's container only adds PROTOCOL)."""
    plain = only_container(deployment_pod_spec())
    kserve = only_container(predictor_pod_spec())
    for field in ("image", "imagePullPolicy", "securityContext", "resources"):
        assert kserve[field] == plain[field], field
    assert {name: value for name, value in manifest_env(kserve).items() if name != "PROTOCOL"} == manifest_env(plain)
    for probe in PROBES:
        assert kserve[probe]["httpGet"]["path"] == plain[probe]["httpGet"]["path"], probe


def test_image_is_the_one_the_readme_builds():
    """The manifests run the image that the README's `docker build -t NAME .` produces (NAME:latest)."""
    (name,) = set(re.findall(r"docker build -t (\S+) \.", README.read_text()))
    for manifest in POD_SPECS:
        assert only_container(POD_SPECS[manifest]())["image"] in {name, f"{name}:latest"}, manifest
