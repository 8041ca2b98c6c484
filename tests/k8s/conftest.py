"""Fixtures for tests against a real Kubernetes control plane (etcd + kube-apiserver 1.20 +
kube-controller-manager on loopback, from infra/local/controlplane.py).

Reusable by any test under tests/k8s:

- ``kube`` (session): a running control plane with KubeRay's CRDs and Kiln's CRDs installed
  (both before the controller-manager starts, so its garbage collector knows them). Yields a
  ``Kube`` with ``kubeconfig`` (path), ``api_url``, ``token`` (cluster-admin), ``ca_file``,
  ``api_client`` (a ``kubernetes.client.ApiClient``) and helpers (``custom``, ``core``,
  ``create_namespace``). Skips with a how-to-enable message where the binaries are missing
  (``make controlplane``), fails instead under CI.
- ``namespace`` (function): a fresh namespace, deleted afterwards.
- ``operator`` (session): the Kiln operator (kopf's ``KopfRunner``, in this process) running
  under the minimal RBAC of ``operators/kiln_operator/rbac.yaml`` with a ServiceAccount token;
  yields an ``Operator`` with its ``metrics_url`` and ``liveness_url``.
- ``wait_for(check, what, timeout)``: poll until ``check()`` returns something truthy.

There is no kubelet or scheduler: pods never run, so KubeRay's operator cannot run either.
Tests play KubeRay's part by writing RayJob/RayService status the way KubeRay does.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from tests.conftest import FIXTURES, ROOT, skip_or_fail

from kiln_operator import CRD_DIR

KUBERAY_CRDS = FIXTURES / "kuberay-crds"  # vendored; the README there names the release
RBAC_RULES = CRD_DIR.parent / "rbac.yaml"
T = TypeVar("T")


def _load_controlplane() -> Any:
    path = ROOT / "infra" / "local" / "controlplane.py"
    spec = importlib.util.spec_from_file_location("kiln_controlplane", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


controlplane = _load_controlplane()


def wait_for(check: Callable[[], T], what: str, timeout: float = 30.0, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last saw: {last!r}")


def for_kubernetes_1_20(crd: dict[str, Any]) -> dict[str, Any]:
    """The three fixture-only edits that let KubeRay's CRDs install on a 1.20 server
    (tests/fixtures/kuberay-crds/README.md): drop CEL rules (`x-kubernetes-validations`, unknown to
    1.20), drop empty-string defaults (they arrive as null and fail their string type), and make
    map-type lists atomic (1.20 insists that a map key have a default). Field descriptions are
    dropped too, which changes no validation and makes the server establish the CRDs faster."""

    def edit(node: Any) -> Any:
        if isinstance(node, list):
            return [edit(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in ("x-kubernetes-validations", "x-kubernetes-list-map-keys"):
                continue
            if key == "description" and isinstance(value, str):
                continue  # not an edit 1.20 needs: it halves the size and the install time
            if key == "default" and value == "":
                continue
            if key == "x-kubernetes-list-type" and value == "map":
                value = "atomic"
            out[key] = edit(value)
        return out

    return edit(crd)


@dataclass
class Kube:
    """A running test control plane and a cluster-admin client for it."""

    kubeconfig: Path
    api_url: str
    token: str
    ca_file: Path
    api_client: Any  # kubernetes.client.ApiClient

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    def create_namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    def apply_crds(self, crds: list[dict[str, Any]], timeout: float = 60.0) -> None:
        """Create CRDs and wait until the server serves them (condition Established)."""
        from kubernetes import client

        api = client.ApiextensionsV1Api(self.api_client)
        for crd in crds:
            api.create_custom_resource_definition(crd)
        for crd in crds:
            name = crd["metadata"]["name"]

            def established(name: str = name) -> bool:
                found = api.read_custom_resource_definition(name)
                conditions = found.status.conditions or []
                return any(c.type == "Established" and c.status == "True" for c in conditions)

            wait_for(established, f"CRD {name} to be established", timeout)

    def kubeconfig_for(self, token: str, path: Path) -> Path:
        """A kubeconfig for the same server with another identity (a ServiceAccount token)."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"][0]["user"] = {"token": token}
        path.write_text(yaml.safe_dump(config))
        return path


def kuberay_crds() -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # RayCluster is not installed: Kiln renders only RayJobs and RayServices (which embed the
    # cluster spec), and each of these CRDs costs the 1.20 server seconds to establish.
    names = ("rayjobs", "rayservices")
    return [
        for_kubernetes_1_20(yaml.load((KUBERAY_CRDS / f"ray.io_{n}.yaml").read_text(), loader))
        for n in names
    ]


def kiln_crds() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(CRD_DIR.glob("*.yaml"))]


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    missing = controlplane.missing_parts()
    if missing:
        skip_or_fail(
            f"no local control plane: missing {', '.join(missing)}; {controlplane.ENABLE_HINT}"
        )
    from kubernetes import config

    plane = controlplane.ControlPlane(with_controller_manager=False)
    # Parsing KubeRay's 2 MB of YAML overlaps with the servers starting (which mostly waits).
    pool = ThreadPoolExecutor(max_workers=1)
    crds = pool.submit(lambda: kuberay_crds() + kiln_crds())
    pool.shutdown(wait=False)  # the submitted parse still runs; result() waits for it
    try:
        plane.start()
        api_client = config.new_client_from_config(config_file=str(plane.kubeconfig))
        kube = Kube(plane.kubeconfig, plane.api_url, plane.token, plane.ca_file, api_client)
        kube.apply_crds(crds.result())
        plane.start_controller_manager()
    except controlplane.Unavailable as e:
        plane.stop()
        skip_or_fail(f"the local control plane did not start: {e}")
    except BaseException:
        plane.stop()
        raise
    try:
        yield kube
    finally:
        api_client.close()
        plane.stop()


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = kube.create_namespace()
    yield name
    kube.core.delete_namespace(name)  # the namespace controller removes what is left inside


@dataclass
class Operator:
    metrics_url: str
    liveness_url: str
    runner: Any  # kopf.testing.KopfRunner


def service_account_kubeconfig(kube: Kube, workdir: Path) -> Path:
    """A ServiceAccount bound to exactly the rules of operators/kiln_operator/rbac.yaml, and a
    kubeconfig with its token (from the token Secret the controller-manager creates on 1.20)."""
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(kube.api_client)
    namespace = kube.create_namespace("kiln-system")
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": "kiln-operator"}})
    rules = yaml.safe_load(RBAC_RULES.read_text())
    rbac.create_cluster_role({"metadata": {"name": "kiln-operator-test"}, "rules": rules})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "kiln-operator-test"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kiln-operator-test",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "kiln-operator", "namespace": namespace}
            ],
        }  # fmt: skip
    )

    def token() -> str | None:
        account = kube.core.read_namespaced_service_account("kiln-operator", namespace)
        for ref in account.secrets or []:
            secret = kube.core.read_namespaced_secret(ref.name, namespace)
            if secret.data and secret.data.get("token"):
                return base64.b64decode(secret.data["token"]).decode()
        return None

    value = wait_for(token, "the operator's ServiceAccount token", timeout=60)
    return kube.kubeconfig_for(value, workdir / "operator-kubeconfig")


@pytest.fixture(scope="session")
def operator(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    from kopf.testing import KopfRunner

    workdir = tmp_path_factory.mktemp("operator")
    metrics_port, liveness_port = controlplane.free_port(), controlplane.free_port()
    env = {
        "KUBECONFIG": str(service_account_kubeconfig(kube, workdir)),
        "KILN_OPERATOR_METRICS_PORT": str(metrics_port),
        "KILN_OPERATOR_DEFAULT_IMAGE": "kiln-ray:test",
    }
    saved = {key: os.environ.get(key) for key in env}

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    os.environ.update(env)  # the operator runs in this process and reads these at start-up
    liveness = f"http://127.0.0.1:{liveness_port}/healthz"
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    args = ["run", "--standalone", "--all-namespaces", f"--liveness={liveness}",
            "-m", "kiln_operator.handlers"]  # fmt: skip
    try:
        with KopfRunner(args, timeout=60) as runner:
            try:
                wait_for(lambda: _answers(liveness), "the operator's liveness endpoint", 60)
                wait_for(lambda: _answers(metrics), "the operator's metrics endpoint", 10)
            finally:
                # Start-up is over (settings and credentials are read once): later tests see
                # the environment as it was.
                restore()
            yield Operator(metrics, liveness, runner)
    finally:
        restore()
    assert runner.exception is None, f"the operator crashed: {runner.exception!r}"


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
