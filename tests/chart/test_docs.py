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
    assert len(DOC.splitlines()) <= 95


def test_the_storage_walkthrough_agrees_with_the_chart_and_the_examples():
    """The --set storage values reach the operator's settings, the Secret the doc creates is the
    one they and every example name, and the doc's Secret keys are the ones rendered."""
    from kiln_operator import storage
    from kiln_operator.settings import from_env

    values: dict = {}
    with helm.Chart.load(ROOT / "charts" / "kiln") as chart:
        for expression in re.findall(r"--set (storage\.[^\s`]+)", DOC):
            for key, value in helm.parse_set_string(expression)["storage"].items():
                values[key] = value
        rendered = chart.render({"storage": values}, name="kiln", namespace="kiln")
    (config,) = [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc and doc.get("kind") == "ConfigMap"
    ]
    settings = from_env(config["data"])
    assert settings.storage_endpoint_url.startswith("http://minio")
    (created,) = set(re.findall(r"create secret generic (\S+) \\\n\s+--from-literal=AWS", DOC))
    assert settings.storage_secret == created
    examples = [
        doc
        for path in sorted((ROOT / "infra" / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]
    assert {doc["spec"]["storageSecretRef"]["name"] for doc in examples} == {created}
    for key in (*storage.S3_CREDENTIAL_KEYS, storage.ENDPOINT_ENV, storage.GCS_KEY):
        assert key in DOC, key


def test_the_readmes_forecasting_example_is_the_file_itself():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("`infra/examples/forecasting.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert block == (ROOT / "infra" / "examples" / "forecasting.yaml").read_text()
