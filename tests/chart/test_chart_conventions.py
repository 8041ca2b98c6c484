"""The chart follows the conventions of the prometheus-community charts (STYLE.md).

Labels on everything, stable selectors, 63-character names, locked-down pods, least-privilege
RBAC that narrows with watchNamespaces, and a config checksum that rolls the operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}


def pod_specs(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = [o["spec"]["template"]["spec"] for o in objects if o["kind"] == "Deployment"]
    return specs + [o["spec"] for o in objects if o["kind"] == "Pod"]


def test_every_object_carries_the_standard_labels(render, everything_on):
    objects = render(everything_on, api_versions=["monitoring.coreos.com/v1"])
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.keys() >= STANDARD_LABELS, obj["metadata"]["name"]


def test_selectors_are_stable_across_chart_versions(render):
    (deployment,) = [o for o in render({}) if o["kind"] == "Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert "helm.sh/chart" not in selector and "app.kubernetes.io/version" not in selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (service,) = [o for o in render({}) if o["kind"] == "Service"]
    assert service["spec"]["selector"] == selector


def test_names_stay_within_63_characters(render):
    release = "a-release-name-that-is-long-enough-to-hit-the-limit-x"  # 53, Helm's maximum
    for obj in render({"dashboards": {"enabled": True}}, name=release):
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
    # A release already named after the chart is not doubled ("kiln-kiln").
    names = {o["metadata"]["name"] for o in render({}, name="kiln")}
    assert "kiln-operator" in names and not any(n.startswith("kiln-kiln") for n in names)


def test_pods_run_non_root_read_only_without_privileges(render):
    for spec in pod_specs(render({})):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "resources" not in container  # unset by default: the user's to choose


def test_operator_is_probed_on_kopf_liveness_and_exposes_metrics(render):
    (deployment,) = [o for o in render({}) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "kiln_operator"]
    # No namespace named: the operator watches all of them.
    assert container["args"] == ["--liveness=http://0.0.0.0:8081/healthz"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"healthz": 8081, "metrics": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}


def test_changing_ray_defaults_rolls_the_operator(render):
    def checksum(values):
        (deployment,) = [o for o in render(values) if o["kind"] == "Deployment"]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"ray": {"serve": {"haProxy": False}}})


def test_ray_defaults_reach_the_operator(render):
    values = {"ray": {"gcsFaultTolerance": {"redisAddress": "redis:6379"}}}
    (config,) = [o for o in render(values) if o["kind"] == "ConfigMap"]
    assert config["data"]["KILN_OPERATOR_METRICS_PORT"] == "8080"
    assert config["data"]["KILN_OPERATOR_RAY_AUTH_MODE"] == "token"
    assert config["data"]["KILN_OPERATOR_SERVE_HA_PROXY"] == "1"
    assert config["data"]["KILN_OPERATOR_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert config["data"]["KILN_OPERATOR_GCS_REDIS_ADDRESS"] == "redis:6379"
    (deployment,) = [o for o in render(values) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_rbac_is_cluster_wide_only_without_watch_namespaces(render):
    cluster = render({})
    roles = {(o["kind"], o["metadata"]["name"]) for o in cluster if "Role" in o["kind"]}
    assert ("ClusterRole", "kiln-operator") in roles

    narrowed = render({"operator": {"watchNamespaces": ["team-a", "team-b"]}})
    cluster_roles = [o for o in narrowed if o["kind"] == "ClusterRole"]
    # Only reading cluster-scoped CRDs and Namespaces stays cluster-wide.
    assert [r["metadata"]["name"] for r in cluster_roles] == ["kiln-observer"]
    assert cluster_roles[0]["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    ]
    role_namespaces = sorted(o["metadata"]["namespace"] for o in narrowed if o["kind"] == "Role")
    assert role_namespaces == ["team-a", "team-b"]
    (deployment,) = [o for o in narrowed if o["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args


def test_operator_may_not_touch_secrets_pods_or_anything_beyond_its_kinds(render):
    (role,) = [
        o
        for o in render({})
        if o["kind"] == "ClusterRole" and "observer" not in o["metadata"]["name"]
    ]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources <= {
        "trainingjobs",
        "modeldeployments",
        "trainingjobs/status",
        "modeldeployments/status",
        "rayjobs",
        "rayservices",
        "events",
    }
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in role["rules"])


@pytest.mark.parametrize("kube_version", ["v1.20.0", "v1.33.0"])
def test_renders_for_the_oldest_and_newest_supported_servers(render, everything_on, kube_version):
    kinds = {o["kind"] for o in render(everything_on, kube_version=kube_version)}
    assert {"Deployment", "ClusterRole", "ConfigMap", "Pod"} <= kinds


def test_helm_test_pod_asks_the_operator_liveness_endpoint(render):
    (pod,) = [o for o in render({}) if o["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["command"][-1] == (
        "http://kiln-operator.kiln.svc:8081/healthz"
    )


def test_rbac_grants_exactly_what_the_operator_documents(render):
    """operators/kiln_operator/rbac.yaml is the operator's own list (its tests run it
    cluster-wide under exactly these rules); the chart's cluster-wide default grants the same."""
    import yaml

    documented = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "operators/kiln_operator/rbac.yaml").read_text()
    )
    granted = [rule for o in render({}) if o["kind"] == "ClusterRole" for rule in o["rules"]]
    key = lambda rule: (rule["apiGroups"], sorted(rule["resources"]), sorted(rule["verbs"]))  # noqa: E731
    assert sorted(map(key, granted)) == sorted(map(key, documented))


def test_operator_reads_every_setting_the_chart_hands_it(render):
    """Each KILN_OPERATOR_* variable of the chart's ConfigMap is one kiln_operator.settings reads."""
    from kiln_operator import settings

    (config,) = [o for o in render({}) if o["kind"] == "ConfigMap"]
    read = set(settings._ENV.values())
    unread = sorted(set(config["data"]) - read)
    assert not unread
