"""The chart renders, with real Helm, into objects Kubernetes 1.25 and 1.33 accept.

Every object of the default values and of each ci/*-values.yaml scenario is validated with
`kubernetes-validate --strict` (unknown fields are errors). The Prometheus Operator's kinds
(PodMonitor, ServiceMonitor, PrometheusRule) are not in kubernetes-validate's schemas and their
CRDs cannot be fetched here, so they are checked by what they mean instead: the rule groups pass
`promtool check rules`, and the monitors point at ports that exist.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHART = Path(__file__).resolve().parents[2] / "charts" / "kiln"
MONITORING_API = "monitoring.coreos.com/v1"
KUBE_VERSIONS = ["1.25.0", "1.33.0"]
MONITORING_KINDS = {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
# The default values and each ci/*-values.yaml scenario the chart ships.
SCENARIOS = {
    "default": {},
    **{p.name: yaml.safe_load(p.read_text()) or {} for p in sorted(CHART.glob("ci/*-values.yaml"))},
}


def kind_name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rendered_object_validates_strictly(render, chart, scenario, kube_version):
    objects = render(
        SCENARIOS[scenario], api_versions=[MONITORING_API], kube_version=f"v{kube_version}"
    )
    objects += [yaml.safe_load(crd["data"]) for crd in chart.crds]
    assert {"Deployment", "ServiceAccount", "Service", "ConfigMap"} <= {o["kind"] for o in objects}
    problems = []
    for obj in objects:
        if obj["kind"] in MONITORING_KINDS:
            continue  # validated by meaning below: no schema for them here
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{kind_name(obj)}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{kind_name(obj)}: no schema ({e.message})")
    assert not problems, "\n".join(problems)


def test_crds_are_installed_from_the_crds_folder(chart):
    kinds = {yaml.safe_load(crd["data"])["spec"]["names"]["kind"] for crd in chart.crds}
    assert kinds == {"TrainingJob", "ModelDeployment"}


def test_monitors_render_only_where_the_monitoring_api_exists(render, everything_on):
    without_api = {o["kind"] for o in render(everything_on)}
    with_api = {o["kind"] for o in render(everything_on, api_versions=[MONITORING_API])}
    assert not without_api & MONITORING_KINDS
    assert with_api >= MONITORING_KINDS
    # Enabled is needed too: the API alone renders nothing optional.
    defaults = {o["kind"] for o in render({}, api_versions=[MONITORING_API])}
    assert not defaults & MONITORING_KINDS


def test_prometheus_rule_groups_pass_promtool(render, everything_on, tmp_path: Path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    (rule,) = [
        o
        for o in render(everything_on, api_versions=[MONITORING_API])
        if o["kind"] == "PrometheusRule"
    ]
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    source = yaml.safe_load((CHART.parents[1] / "infra/prometheus/kiln-rules.yaml").read_text())
    assert alerts == {r["alert"] for g in source["groups"] for r in g["rules"] if "alert" in r}
    assert {"KilnServingErrorRatioHigh", "KilnInputDrift"} <= alerts


def test_monitors_scrape_ports_that_exist(render, everything_on):
    objects = render(everything_on, api_versions=[MONITORING_API])
    by_kind = {o["kind"]: o for o in objects if o["kind"] in MONITORING_KINDS | {"Service"}}
    service, monitor = by_kind["Service"], by_kind["ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    pod_monitor = by_kind["PodMonitor"]["spec"]
    # KubeRay labels every Ray pod ray.io/is-ray-node=yes and names its metrics port "metrics".
    assert pod_monitor["selector"]["matchLabels"] == {"ray.io/is-ray-node": "yes"}
    assert pod_monitor["podMetricsEndpoints"][0]["port"] == "metrics"


def test_dashboards_are_configmaps_for_the_grafana_sidecar(render):
    values = {"dashboards": {"enabled": True, "label": "my_dashboards", "folder": "ML"}}
    maps = [o for o in render(values) if o["metadata"]["name"].startswith("kiln-dashboard-")]
    assert {m["metadata"]["name"] for m in maps} == {
        "kiln-dashboard-kiln-serving",
        "kiln-dashboard-kiln-training",
        "kiln-dashboard-kiln-operator",
    }
    for cm in maps:
        assert cm["metadata"]["labels"]["my_dashboards"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "ML"
        ((key, text),) = cm["data"].items()
        assert key.endswith(".json") and '"title": "Kiln ' in text
    assert not [o for o in render({}) if o["metadata"]["name"].startswith("kiln-dashboard-")]
