"""`helm lint --strict` and the values schema, with real Helm.

The chart declares KubeRay's operator chart as a dependency fetched at release time
(`helm dependency build`). There is no internet here, so the lint runs on a copy of the chart
without that declaration, and a separate test proves the declaration is the only thing lint
finds missing in the chart as committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="the helm-python-sdk wheel is a test extra")

CHART = Path(__file__).resolve().parents[2] / "charts" / "kiln"
SCENARIOS = {"default": {}} | {
    p.name: yaml.safe_load(p.read_text()) or {} for p in sorted(CHART.glob("ci/*-values.yaml"))
}


@pytest.fixture(scope="module")
def chart_without_dependency(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("lint") / "kiln"
    shutil.copytree(CHART, copy)
    metadata = yaml.safe_load((copy / "Chart.yaml").read_text())
    metadata.pop("dependencies")
    (copy / "Chart.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    return copy


@pytest.mark.parametrize("kube_version", ["v1.20.0", "v1.25.0", "v1.33.0"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lint_strict_passes(chart_without_dependency, scenario, kube_version):
    report = helm.lint(
        chart_without_dependency, SCENARIOS[scenario], strict=True, kube_version=kube_version
    )
    assert report["total_charts_linted"] == 1
    findings = [m for m in report["messages"] if m["severity"] >= 2]
    assert not findings and not report["errors"], report


def test_kuberay_is_a_conditional_dependency_and_the_only_thing_missing_offline():
    (dependency,) = yaml.safe_load((CHART / "Chart.yaml").read_text())["dependencies"]
    assert dependency["name"] == "kuberay-operator"
    assert dependency["condition"] == "kuberay-operator.enabled"
    assert dependency["repository"] == "https://ray-project.github.io/kuberay-helm/"
    # On by default for users; the tests and ci scenarios turn it off.
    assert yaml.safe_load((CHART / "values.yaml").read_text())["kuberay-operator"]["enabled"]
    report = helm.lint(CHART, {"kuberay-operator": {"enabled": False}}, strict=True)
    assert report["errors"] == ["chart directory is missing these dependencies: kuberay-operator"]


@pytest.mark.parametrize(
    "values, named",
    [
        ({"operater": {"verbose": True}}, "operater"),  # a typo at the top
        ({"operator": {"watchNamespace": ["a"]}}, "watchNamespace"),  # a typo inside
        ({"monitoring": {"podMonitor": {"enable": True}}}, "enable"),
        ({"operator": {"metricsPort": "9090"}}, "metricsPort"),  # wrong type
        ({"ray": {"auth": {"mode": "tokens"}}}, "mode"),  # not one of the choices
        ({"monitoring": {"serviceMonitor": {"interval": "30 seconds"}}}, "interval"),
        ({"storage": {"runsUri": "/tmp/kiln-runs"}}, "runsUri"),  # a pod's own disk
        ({"storage": {"runsURI": "s3://b/runs"}}, "runsURI"),
        ({"storage": {"endpointUrl": "minio:9000"}}, "endpointUrl"),  # no scheme
        ({"storage": {"secretName": "My_Secret"}}, "secretName"),
    ],
)
def test_schema_rejects_bad_values(values, named):
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError) as caught:
            chart.validate_schema(values)
        assert named in str(caught.value)
        # Rendering (what install does) refuses them as well, before any template runs.
        with pytest.raises(helm.HelmError):
            chart.render(values, name="kiln", namespace="kiln")


def test_schema_accepts_every_shipped_scenario_and_values_yaml_heads_with_it():
    first_line = (CHART / "values.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=values.schema.json"
    with helm.Chart.load(CHART) as chart:
        for values in SCENARIOS.values():
            chart.validate_schema(values)
        # KubeRay's own keys pass through to its chart untouched.
        chart.validate_schema({"kuberay-operator": {"enabled": True, "image": {"tag": "v1.5.1"}}})
