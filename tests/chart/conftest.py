"""Fixtures for the Helm chart's tests: real Helm (the Go SDK in the helm-python-sdk wheel).

No cluster is involved here; tests/k8s/test_chart_install.py installs the chart for real.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kiln"


RenderFn = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def everything_on() -> dict[str, Any]:
    """Values with every optional feature on: the scenario that renders every template."""
    return {
        "dashboards": {"enabled": True},
        "monitoring": {
            "podMonitor": {"enabled": True},
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
        },
    }


@pytest.fixture(scope="session")
def chart():
    helm = pytest.importorskip("helm_python", reason="the helm-python-sdk wheel is a test extra")
    loaded = helm.Chart.load(CHART)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def render(chart) -> RenderFn:
    """Render the chart like `helm template`, returning its objects (NOTES.txt left out).

    `Chart.render` of the wheel does not expose `--api-versions`/`--kube-version`, but the
    library's C ABI takes them in the same options document (`api_versions`, `kube_version`),
    so this calls it directly: that is how a test shows the `.Capabilities` switches work.
    """
    from helm_python import _native

    def _render(
        values: dict[str, Any] | None = None,
        *,
        name: str = "kiln",
        namespace: str = "kiln",
        api_versions: list[str] | None = None,
        kube_version: str | None = None,
    ) -> list[dict[str, Any]]:
        chart.validate_schema(values or {})
        options: dict[str, Any] = {"name": name, "namespace": namespace, "is_install": True}
        if api_versions:
            options["api_versions"] = api_versions
        if kube_version:
            options["kube_version"] = kube_version
        rendered = json.loads(
            _native.call_string(
                "helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options)
            )
        )
        objects = []
        for path, text in sorted(rendered.items()):
            if path.endswith("NOTES.txt"):
                continue
            for document in yaml.safe_load_all(text):
                if document:
                    objects.append(document)
        return objects

    return _render
