"""`helm install` and `helm upgrade` of charts/kiln on the real test API server (real Helm, the Go
SDK in the helm-python-sdk wheel), and the operator it installs reconciling TrainingJobs with
exactly the permissions the chart grants.

What is faked, and why: there is no kubelet here, so the chart's operator Deployment gets its
ReplicaSet and Pod objects but the pod never runs. The test therefore runs the operator process
itself (`python -m kiln_operator`, the image's entrypoint, with the chart's ConfigMap as its
environment) authenticated as the ServiceAccount the chart created. That it reconciles proves the
chart's RBAC is enough; a forbidden request shows the RBAC is no wider than it should be.
KubeRay's operator is a chart dependency fetched at release time (`helm dependency build`),
which cannot happen offline, and Helm refuses to install a chart whose declared dependency is
absent even when its condition turns it off. The test therefore installs a copy of the chart
without that declaration and with `kuberay-operator.enabled=false`, which renders the same
objects. The control-plane fixture installs KubeRay's CRDs, so the server validates the RayJobs
the operator renders.
"""

from __future__ import annotations

import base64
import importlib.util
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.k8s
helm = pytest.importorskip("helm_python", reason="the helm-python-sdk wheel is a test extra")
k8s = pytest.importorskip("kubernetes")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kiln"
RELEASE, NAMESPACE, WORK_NAMESPACE = "kiln", "kiln-system", "ml"
OFFLINE = {"kuberay-operator": {"enabled": False}}
# The chart's storage defaults: the TrainingJobs below name no runsUri or Secret of their own.
STORAGE = {
    "storage": {
        "runsUri": "s3://kiln-runs/team",
        "secretName": "kiln-storage",
        "endpointUrl": "http://minio.minio.svc:9000",
    }
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(name: str, path: Path) -> Any:
    """A helper module of another test folder, by path (tests are not an importable package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class Cluster:
    """Admin clients on the test API server, plus Helm pointed at it."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.api = k8s.config.new_client_from_config(config_file=str(kubeconfig))
        self.core = k8s.client.CoreV1Api(self.api)
        self.apps = k8s.client.AppsV1Api(self.api)
        self.rbac = k8s.client.RbacAuthorizationV1Api(self.api)
        self.custom = k8s.client.CustomObjectsApi(self.api)
        self.helm = helm.Config(kubeconfig_path=str(kubeconfig), namespace=NAMESPACE)

    def ensure_namespace(self, name: str) -> None:
        try:
            self.core.create_namespace({"metadata": {"name": name}})
        except k8s.client.ApiException as e:
            if e.status != 409:
                raise

    def service_account_kubeconfig(self, path: Path, account: str) -> Path:
        """A kubeconfig that authenticates as the ServiceAccount, with its token Secret's token
        (Kubernetes 1.20's token controller creates that Secret)."""

        def token() -> str | None:
            sa = self.core.read_namespaced_service_account(account, NAMESPACE)
            for ref in sa.secrets or []:
                secret = self.core.read_namespaced_secret(ref.name, NAMESPACE)
                if secret.data and "token" in secret.data:
                    return base64.b64decode(secret.data["token"]).decode()
            return None

        cluster = self.api.configuration
        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {{server: "{cluster.host}", certificate-authority: "{cluster.ssl_ca_cert}"}}
users:
- name: {account}
  user: {{token: "{wait_for("the ServiceAccount's token", token)}"}}
contexts:
- name: sa
  context: {{cluster: test, user: {account}}}
current-context: sa
"""
        )
        return path


@pytest.fixture(scope="module")
def chart_dir(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("chart") / "kiln"
    shutil.copytree(CHART, copy)
    metadata = yaml.safe_load((copy / "Chart.yaml").read_text())
    assert [d["name"] for d in metadata.pop("dependencies")] == ["kuberay-operator"]
    (copy / "Chart.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    return copy


@pytest.fixture(scope="module")
def cluster(kube) -> Iterator[Cluster]:
    c = Cluster(Path(kube.kubeconfig))
    c.ensure_namespace(WORK_NAMESPACE)
    yield c
    c.helm.uninstall(RELEASE, ignore_not_found=True, timeout=60)
    c.helm.close()
    # Leave nothing for the other k8s tests' operator to reconcile: the namespace controller
    # removes what is inside.
    for namespace in (WORK_NAMESPACE, NAMESPACE):
        c.core.delete_namespace(namespace)


class Operator:
    """`python -m kiln_operator` as the chart's container runs it, with its args and env."""

    def __init__(self, cluster: Cluster, workdir: Path, deployment: Any) -> None:
        container = deployment.spec.template.spec.containers[0]
        config = cluster.core.read_namespaced_config_map(
            container.env_from[0].config_map_ref.name, NAMESPACE
        )
        self.metrics_port, self.liveness_port = free_port(), free_port()
        # The chart's ports are cluster ones; on a shared loopback the test picks free ones.
        args = [
            a
            if not a.startswith("--liveness=")
            else f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz"
            for a in container.args
        ]
        env = {
            **os.environ,
            **config.data,
            "KILN_OPERATOR_METRICS_PORT": str(self.metrics_port),
            # The examples' s3:// registries do not exist here; no job finishes anyway.
            "KILN_OPERATOR_REGISTRY_LOOKUP": "false",
            "KUBECONFIG": str(
                cluster.service_account_kubeconfig(
                    workdir / "sa.kubeconfig", deployment.spec.template.spec.service_account_name
                )
            ),
        }
        assert container.command == ["python", "-m", "kiln_operator"]
        self.log = workdir / "operator.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kiln_operator", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for("the operator's liveness endpoint", self.alive, timeout=60)

    def refused(self) -> list[str]:
        """Log lines where the API server refused the operator something (RBAC too narrow)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if "Forbidden" in line or "Not enough permissions" in line]

    def alive(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            url = f"http://127.0.0.1:{self.liveness_port}/healthz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def training_job(name: str, model: str = "dense") -> dict[str, Any]:
    return {
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "task": "forecasting",
            "model": model,
            "data": "s3://kiln-data/jena",
            "registry": "s3://kiln-registry",
            "epochs": 1,
        },
    }


def rayjob_of(cluster: Cluster, namespace: str, owner: str) -> dict[str, Any] | None:
    jobs = cluster.custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs")
    for job in jobs["items"]:
        if any(ref["name"] == owner for ref in job["metadata"].get("ownerReferences", [])):
            return job
    return None


@pytest.fixture(scope="module")
def release(cluster, chart_dir) -> dict[str, Any]:
    installed = cluster.helm.install(
        str(chart_dir),
        RELEASE,
        {**OFFLINE, **STORAGE},
        namespace=NAMESPACE,
        create_namespace=True,
        timeout=120,
    )
    return installed


@pytest.fixture(scope="module")
def chart_operator(cluster, release, tmp_path_factory) -> Iterator[Operator]:
    """The installed operator (cluster-wide, the default) running as the chart's account."""
    deployment = cluster.apps.read_namespaced_deployment("kiln-operator", NAMESPACE)
    running = Operator(cluster, tmp_path_factory.mktemp("operator"), deployment)
    yield running
    running.stop()


def test_install_creates_crds_operator_and_rbac(cluster, release):
    assert release["name"] == RELEASE and release["status"] == "deployed"
    assert "helm test" in release["notes"]  # NOTES.txt tells the user what to do next
    crds = k8s.client.ApiextensionsV1Api(cluster.api).list_custom_resource_definition().items
    assert {"trainingjobs.kiln.dev", "modeldeployments.kiln.dev"} <= {c.metadata.name for c in crds}
    assert cluster.rbac.read_cluster_role("kiln-operator").rules
    assert cluster.core.read_namespaced_service("kiln-operator", NAMESPACE).spec.ports
    # The controller-manager makes the Deployment's ReplicaSet and Pod (which never runs): the
    # server admitted the pod with its restricted security context as the chart wrote it.
    pods = wait_for(
        "the operator's Pod object",
        lambda: (
            cluster.core.list_namespaced_pod(
                NAMESPACE, label_selector="app.kubernetes.io/component=operator"
            ).items
        ),
    )
    context = pods[0].spec.containers[0].security_context
    assert context.read_only_root_filesystem is True and context.run_as_non_root is True


def test_installed_operator_reconciles_a_training_job_with_the_charts_rbac(cluster, chart_operator):
    cluster.custom.create_namespaced_custom_object(
        "kiln.dev", "v1alpha1", WORK_NAMESPACE, "trainingjobs", training_job("tj-cluster")
    )
    rayjob = wait_for("the RayJob", lambda: rayjob_of(cluster, WORK_NAMESPACE, "tj-cluster"))
    assert "kiln train" in rayjob["spec"]["entrypoint"]
    # The chart's storage values, through the ConfigMap and the operator, into the RayJob.
    assert "kiln export s3://kiln-runs/team/tj-cluster " in rayjob["spec"]["entrypoint"]
    cluster_spec = rayjob["spec"]["rayClusterSpec"]
    for group in [cluster_spec["headGroupSpec"], *cluster_spec["workerGroupSpecs"]]:
        env = {e["name"]: e for e in group["template"]["spec"]["containers"][0]["env"]}
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "kiln-storage"
        assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio.minio.svc:9000"
    phase = wait_for(
        "the TrainingJob's phase",
        lambda: (
            cluster.custom.get_namespaced_custom_object(
                "kiln.dev", "v1alpha1", WORK_NAMESPACE, "trainingjobs", "tj-cluster"
            )
            .get("status", {})
            .get("phase")
        ),
    )
    assert phase == "Pending"  # no KubeRay operator runs here to move it on
    assert not chart_operator.refused()


@pytest.fixture
def serve_app(ray_local, tmp_path) -> Iterator[str]:
    """The real Serve application (kiln.serving.app:build_app) on 127.0.0.1, with a canary, over
    the serving tests' tiny real ONNX models in a real registry."""
    from ray import serve

    from kiln.serving.app import build_app

    tiny = load("tiny_models", ROOT / "tests" / "unit" / "serving" / "tiny_models.py")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        args = {
            # Classifiers with training statistics: the dashboards' drift row has data.
            "registry": tiny.populate(tmp_path / "registry", training_stats=True),
            "models": {
                "classification": {
                    "name": tiny.NAMES["classification"],
                    "version": 1,
                    "canary_version": 2,
                    "canary_percent": 50,
                }
            },
            "auth_token_env": None,
            "intra_op_threads": 1,
        }
        serve.run(build_app(args), name="kiln", route_prefix="/")
        yield f"http://127.0.0.1:{port}", tiny
    finally:
        serve.shutdown()


def send_traffic(base_url: str, tiny: Any, stop: threading.Event) -> None:
    """Good images and undecodable ones (400s), until told to stop. A request that times out
    on a loaded machine must not end the traffic: the rates the dashboards show would fall to
    zero and their ratios and quantiles to NaN."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            for body in (tiny.png((255, 0, 0)), tiny.png((0, 0, 255)), b"not a png"):
                try:
                    client.post(
                        "/v1/classification/predict",
                        content=body,
                        headers={"content-type": "image/png"},
                    )
                except httpx.HTTPError:
                    stop.wait(0.5)
            stop.wait(0.05)


def record_training_epochs(ray: Any) -> Any:
    """Training's own metrics class (kiln.training.metrics), set in a Ray worker process as the
    training loop sets it after each epoch (here one every 2 s), so the Ray metrics agent exports
    it. A real Keras run on Ray Train would take minutes; the export path is the same. Ray 2.60
    drops a gauge about 20 s after its last set, so a run must report at least that often."""

    @ray.remote(num_cpus=0)
    def epochs(count: int) -> None:
        from kiln.training.metrics import TrainingMetrics

        metrics = TrainingMetrics("forecasting", "dense", "run-live")
        metrics.record_restart()
        for epoch in range(1, count + 1):
            metrics.record_epoch(
                epoch=epoch,
                loss=1.0 / epoch,
                val_loss=1.2 / epoch,
                seconds=2.0,
                samples_per_second=250.0,
                workers=2,
            )
            time.sleep(2)

    return epochs.remote(90)


def scrape_health(prometheus: Any) -> list[tuple[str, str, float, str]]:
    """Each target's health, last scrape's seconds and error: a failed scrape shows here."""
    return [
        (t["scrapeUrl"], t["health"], t["lastScrapeDuration"], t["lastError"])
        for t in prometheus.targets()
    ]


def test_dashboard_queries_return_data_from_a_real_prometheus(
    cluster, chart_operator, ray_local, serve_app
):
    """Debian's prometheus scrapes Ray's metrics export port (the real Serve app under traffic,
    and training's metrics) and the installed operator's metrics port; every query of every
    dashboard must return data through Prometheus' HTTP API. There is no Grafana server here:
    the queries are run as Grafana would run them, with its variables expanded for "All"."""
    base_url, tiny = serve_app
    prometheus_mod = load("kiln_prometheus", ROOT / "tests" / "observability" / "prometheus.py")
    queries_mod = load("kiln_observability", ROOT / "tests" / "observability" / "conftest.py")
    queries = [
        (f"{where} #{i}", expr)
        for i, (where, expr) in enumerate(queries_mod.all_dashboard_queries())
    ]
    ray_port = ray_local.nodes()[0]["MetricsExportPort"]
    jobs = {
        "ray": [f"127.0.0.1:{ray_port}"],
        "operator": [f"127.0.0.1:{chart_operator.metrics_port}"],
    }
    stop = threading.Event()
    traffic = threading.Thread(target=send_traffic, args=(base_url, tiny, stop), daemon=True)
    training = None
    try:
        with prometheus_mod.Prometheus(jobs) as prometheus:
            prometheus.wait_for_targets()
            # Everything happens while Prometheus watches, so rates and quantiles see it move.
            traffic.start()
            training = record_training_epochs(ray_local)
            # An invalid spec (unknown model), then a job whose RayJob KubeRay would report
            # failed: reconcile errors, durations and phases.
            for job in (
                training_job("tj-invalid", model="no_such_model"),
                training_job("tj-fails"),
            ):
                cluster.custom.create_namespaced_custom_object(
                    "kiln.dev", "v1alpha1", WORK_NAMESPACE, "trainingjobs", job
                )
                time.sleep(4)  # a scrape (every 3 s) between the two, so the rise is seen
            failing = wait_for("the RayJob", lambda: rayjob_of(cluster, WORK_NAMESPACE, "tj-fails"))
            cluster.custom.patch_namespaced_custom_object_status(
                "ray.io", "v1", WORK_NAMESPACE, "rayjobs", failing["metadata"]["name"],
                {"status": {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "message": "boom"}},
            )  # fmt: skip
            pending = dict(queries)
            answers: dict[str, list[Any]] = {}
            deadline = time.monotonic() + 120

            while pending and time.monotonic() < deadline:
                for where, expr in list(pending.items()):
                    answers[where] = prometheus.query(expr)
                    lines = answers[where]
                    if lines and all(math.isfinite(float(r["value"][1])) for r in lines):
                        del pending[where]
                if pending:
                    time.sleep(2)
            # A NaN line names its group (e.g. a task no longer served: docs/api.md, "Metrics
            # in long-lived clusters"); a failed scrape shows in the targets' errors.
            assert not pending, (
                f"no data from Prometheus for: {[(pending[w], answers[w]) for w in pending]}\n"
                f"targets: {scrape_health(prometheus)}"
            )
    finally:
        stop.set()
        traffic.join(timeout=30)
        if training is not None:
            ray_local.cancel(training, force=True)


def test_upgrade_confines_the_operator_to_its_namespaces_and_adds_dashboards(
    cluster, chart_dir, chart_operator, tmp_path
):
    chart_operator.stop()  # the cluster-wide one loses its ClusterRole in this upgrade
    values = {
        **OFFLINE,
        **STORAGE,
        "operator": {"watchNamespaces": [WORK_NAMESPACE]},
        "dashboards": {"enabled": True},
    }
    cluster.helm.upgrade(str(chart_dir), RELEASE, values, namespace=NAMESPACE, timeout=120)
    assert [r["revision"] for r in cluster.helm.history(RELEASE)] == [1, 2]
    with pytest.raises(k8s.client.ApiException) as gone:
        cluster.rbac.read_cluster_role("kiln-operator")
    assert gone.value.status == 404
    assert cluster.rbac.read_namespaced_role("kiln-operator", WORK_NAMESPACE).rules
    dashboards = cluster.core.list_namespaced_config_map(
        NAMESPACE, label_selector="grafana_dashboard=1"
    )
    assert len(dashboards.items) == 3
    upgraded = cluster.apps.read_namespaced_deployment("kiln-operator", NAMESPACE)
    assert f"--namespace={WORK_NAMESPACE}" in upgraded.spec.template.spec.containers[0].args

    confined = Operator(cluster, tmp_path, upgraded)
    try:
        cluster.custom.create_namespaced_custom_object(
            "kiln.dev", "v1alpha1", WORK_NAMESPACE, "trainingjobs", training_job("tj-namespaced")
        )
        assert wait_for("the RayJob", lambda: rayjob_of(cluster, WORK_NAMESPACE, "tj-namespaced"))
        # Nothing outside the watched namespace: the narrowed RBAC refuses it.
        as_operator = k8s.config.new_client_from_config(config_file=str(tmp_path / "sa.kubeconfig"))
        with pytest.raises(k8s.client.ApiException) as refused:
            k8s.client.CustomObjectsApi(as_operator).list_namespaced_custom_object(
                "kiln.dev", "v1alpha1", "default", "trainingjobs"
            )
        assert refused.value.status == 403
        assert not confined.refused()
    finally:
        confined.stop()

    cluster.helm.uninstall(RELEASE, timeout=60)
    with pytest.raises(k8s.client.ApiException) as removed:
        cluster.apps.read_namespaced_deployment("kiln-operator", NAMESPACE)
    assert removed.value.status == 404
