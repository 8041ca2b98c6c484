"""The chart's copied files equal their sources of truth (charts/kiln/sync-files.sh copies them).

Helm reads nothing outside the chart directory, so the CRDs (owned by the operator), the alert
rules (infra/prometheus) and the dashboards (built by infra/grafana/build.py) are copied in.
A stale copy would ship something other than what the other tests checked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kiln"
FIX = "run `bash charts/kiln/sync-files.sh`"


def names(folder: Path, pattern: str) -> set[str]:
    return {p.name for p in folder.glob(pattern)}


def test_chart_crds_are_identical_to_the_operators():
    source = ROOT / "operators" / "kiln_operator" / "crds"
    assert names(source, "*.yaml"), "the operator ships no CRDs"
    assert names(CHART / "crds", "*.yaml") == names(source, "*.yaml"), FIX
    for path in source.glob("*.yaml"):
        assert (CHART / "crds" / path.name).read_bytes() == path.read_bytes(), f"{path.name}: {FIX}"


def test_chart_rules_are_identical_to_infra_prometheus():
    source = ROOT / "infra" / "prometheus" / "kiln-rules.yaml"
    assert (CHART / "files" / "kiln-rules.yaml").read_bytes() == source.read_bytes(), FIX


def test_dashboards_json_is_what_build_py_makes_and_the_chart_holds_it():
    spec = importlib.util.spec_from_file_location("grafana_build", ROOT / "infra/grafana/build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    rendered = build.render()
    assert set(rendered) == {"kiln-serving.json", "kiln-training.json", "kiln-operator.json"}
    for name, text in rendered.items():
        committed = ROOT / "infra" / "grafana" / "dashboards" / name
        assert committed.read_text() == text, f"{name} is stale: {FIX}"
        assert (CHART / "files" / "dashboards" / name).read_text() == text, f"{name}: {FIX}"
    assert names(CHART / "files" / "dashboards", "*.json") == set(rendered), FIX


@pytest.mark.parametrize("script", ["sync-files.sh"])
def test_sync_script_is_executable(script):
    assert (CHART / script).stat().st_mode & 0o111
