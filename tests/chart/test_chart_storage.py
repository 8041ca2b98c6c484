"""The chart's `storage` values reach the operator, with real Helm: the runs URI, the Secret's
name and the S3 endpoint as KILN_OPERATOR_* settings (which the operator renders into every
RayJob and RayService), and the same credentials, by reference, on the operator's own container
for its registry reads. Strict Kubernetes validation of the storage scenario is in
test_chart_render.py (ci/storage-values.yaml); wrong values are refused in test_chart_lint.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from kiln_operator.settings import from_env

CHART = Path(__file__).resolve().parents[2] / "charts" / "kiln"
STORAGE = yaml.safe_load((CHART / "ci" / "storage-values.yaml").read_text())
AWS_KEYS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]


def operator_container(objects):
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def config_data(objects):
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    return config["data"]


def test_storage_values_become_settings_the_operator_accepts(render):
    data = config_data(render(STORAGE))
    settings = from_env(data)
    assert settings.runs_uri == "s3://kiln/runs"
    assert settings.storage_secret == "kiln-storage"
    assert settings.storage_endpoint_url == "http://minio.minio.svc:9000"
    # Unset, they are empty and the operator starts with no storage defaults.
    defaults = from_env(config_data(render({})))
    assert (defaults.runs_uri, defaults.storage_secret, defaults.storage_endpoint_url) == ("",) * 3


def test_the_operator_reads_the_registry_with_the_same_credentials_by_reference(render):
    env = {e["name"]: e for e in operator_container(render(STORAGE))["env"]}
    for key in AWS_KEYS:
        assert env[key]["valueFrom"] == {
            "secretKeyRef": {"name": "kiln-storage", "key": key, "optional": True}
        }
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio.minio.svc:9000"
    plain = {e["name"] for e in operator_container(render({}))["env"]}
    assert plain == {"KILN_OPERATOR_NAMESPACE"}


def test_changing_storage_rolls_the_operator(render):
    def checksum(values):
        (deployment,) = [o for o in render(values) if o["kind"] == "Deployment"]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) != checksum({"storage": {"runsUri": "s3://kiln/runs"}})


def test_values_yaml_documents_every_storage_key():
    text = (CHART / "values.yaml").read_text()
    documented = yaml.safe_load(text)["storage"]
    assert set(documented) == {"runsUri", "secretName", "endpointUrl"}
    for key in documented:
        line = next(i for i, line in enumerate(text.splitlines()) if line.strip().startswith(key))
        assert "# --" in "\n".join(text.splitlines()[max(0, line - 8) : line]), key


def test_notes_say_where_runs_go_or_that_each_job_must_say(chart):
    def notes(values):
        rendered = chart.render(values, name="kiln", namespace="kiln")
        return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))

    unset = " ".join(notes({}).split())
    assert "every TrainingJob must set spec.runsUri" in unset and "NoSharedStorage" in unset
    given = " ".join(notes(STORAGE).split())
    assert "Runs go to s3://kiln/runs/<TrainingJob name>" in given
    assert 'Secret "kiln-storage"' in given and "http://minio.minio.svc:9000" in given
