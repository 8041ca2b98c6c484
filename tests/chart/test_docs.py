"""docs/kubernetes.md cannot rot: its `--set` values pass the chart's schema (with real Helm's
--set parser), and the files and names it points at exist. No helm CLI or cluster runs here to
execute the commands themselves; tests/k8s/test_chart_install.py installs the chart for real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="the helm-python-sdk wheel is a test extra")

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "kubernetes.md").read_text()


def test_every_set_value_in_the_walkthrough_passes_the_schema():
    sets = re.findall(r"--set ([^\s`]+)", DOC)
    assert len(sets) >= 4
    with helm.Chart.load(ROOT / "charts" / "kiln") as chart:
        for expression in sets:
            values = helm.parse_set_string(expression)
            chart.validate_schema(values)
            chart.render(values, name="kiln", namespace="kiln")


def test_the_files_and_objects_it_names_exist():
    for path in re.findall(r"(?:infra|charts)/[\w./-]+\w", DOC):
        assert (ROOT / path).exists(), path
    names = {
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all((ROOT / "infra/examples/classification.yaml").read_text())
        if doc
    }
    # The Serve service KubeRay makes for the example's RayService: <name>-serve-svc.
    (service,) = re.findall(r"svc/([\w-]+)-serve-svc", DOC)
    assert service in names
    assert len(DOC.splitlines()) <= 40
