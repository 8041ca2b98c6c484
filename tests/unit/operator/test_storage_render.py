"""Object storage in what the operator renders: the run URI (operator default, per-job
override, none refused), credentials by Secret reference on every Ray container of a RayJob and
a RayService, the S3 endpoint, and a GCS key file only where a gs:// URI is involved. The
objects' validity against KubeRay's schemas and Kubernetes' Pod schema is in test_render.py
(its settings cases include these)."""

from __future__ import annotations

import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from kiln.errors import ConfigError
from kiln_operator import render, storage
from kiln_operator.settings import OperatorSettings, from_env
from kiln_operator.spec import parse_model_deployment, parse_training_job

RUNS = "s3://team-bucket/kiln/runs"
ENDPOINT = "http://minio.storage.svc:9000"
CHART_DEFAULTS = OperatorSettings(
    runs_uri=RUNS, storage_secret="kiln-storage", storage_endpoint_url=ENDPOINT
)
AWS_KEYS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]


def training(**overrides):
    spec = {"task": "forecasting", "model": "lstm", "data": "s3://data/jena", "registry": "s3://r"}
    return parse_training_job({**spec, **overrides})


def deployment(**overrides):
    spec = {"task": "classification", "modelName": "pets", "registry": "s3://reg"}
    return parse_model_deployment({**spec, **overrides})


def pods(obj):
    """(pod spec, main container) of the head and of every worker group."""
    spec = obj["spec"]
    cluster = spec.get("rayClusterSpec") or spec["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [(g["template"]["spec"], g["template"]["spec"]["containers"][0]) for g in groups]


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def secret_env(secret):
    return {
        key: {"secretKeyRef": {"name": secret, "key": key, "optional": True}} for key in AWS_KEYS
    }


def commands(job):
    train, export = job["spec"]["entrypoint"].split(" && ")
    return shlex.split(train), shlex.split(export)


def test_the_run_goes_under_the_operators_runs_uri_and_export_reads_it_there():
    train, export = commands(render.render_rayjob("jena", "ml", training(), CHART_DEFAULTS))
    assert train[train.index("--out") + 1] == RUNS
    assert train[train.index("--run-id") + 1] == "jena"
    assert export[:3] == ["kiln", "export", f"{RUNS}/jena"]


def test_a_jobs_own_runs_uri_wins_over_the_operators():
    spec = training(runsUri="gs://other-bucket/runs/")  # a trailing slash is dropped
    train, export = commands(render.render_rayjob("jena", "ml", spec, CHART_DEFAULTS))
    assert train[train.index("--out") + 1] == "gs://other-bucket/runs"
    assert export[2] == "gs://other-bucket/runs/jena"


@pytest.mark.parametrize("workers", [1, 3])
def test_no_runs_uri_anywhere_is_refused_not_put_on_a_pods_disk(workers):
    # Even one worker is two pods: the head (driver, export) and the worker (training).
    with pytest.raises(storage.NoRunStorage) as caught:
        render.render_rayjob("jena", "ml", training(workers=workers), OperatorSettings())
    error = caught.value
    assert isinstance(error, ConfigError) and error.reason == "NoSharedStorage"
    assert "spec.runsUri" in error.message and "storage.runsUri" in error.message
    assert f"{workers} worker pod" in error.message


@pytest.mark.parametrize("uri", ["/tmp/kiln-runs", "file:///runs", "s3://", "http://x/runs"])
def test_a_runs_uri_that_is_not_an_object_store_is_refused_in_spec_and_settings(uri):
    with pytest.raises(ConfigError, match="s3://bucket"):
        training(runsUri=uri)
    with pytest.raises(ConfigError, match="runs_uri"):
        from_env({"KILN_OPERATOR_RUNS_URI": uri})


def test_rayjob_head_and_workers_get_the_credentials_and_the_endpoint():
    job = render.render_rayjob("jena", "ml", training(workers=3), CHART_DEFAULTS)
    for pod, container in pods(job):
        assert env_of(container) == {**secret_env("kiln-storage"), "AWS_ENDPOINT_URL": ENDPOINT}
        assert [v["name"] for v in pod["volumes"]] == ["ray-tmp"]  # no key file for S3


def test_a_jobs_own_secret_wins_over_the_operators_default():
    spec = training(storageSecretRef={"name": "team-a-s3"})
    for _, container in pods(render.render_rayjob("jena", "ml", spec, CHART_DEFAULTS)):
        assert env_of(container) == {**secret_env("team-a-s3"), "AWS_ENDPOINT_URL": ENDPOINT}
    only_runs = OperatorSettings(runs_uri=RUNS)
    for _, container in pods(render.render_rayjob("jena", "ml", spec, only_runs)):
        assert env_of(container) == secret_env("team-a-s3")


def test_without_secret_or_endpoint_the_pods_use_their_own_identity():
    job = render.render_rayjob("jena", "ml", training(), OperatorSettings(runs_uri=RUNS))
    service = render.render_rayservice(
        "pets", "ml", deployment(), OperatorSettings(serve_ha_proxy=False,
                                                     serve_throughput_optimized=False)
    )  # fmt: skip
    for pod, container in pods(job) + pods(service):
        assert "env" not in container
        assert [v["name"] for v in pod["volumes"]] == ["ray-tmp"]


def test_rayservice_replicas_and_head_get_the_registry_credentials():
    spec = deployment(authSecretRef={"name": "tok"}, storageSecretRef={"name": "reg-creds"})
    service = render.render_rayservice("pets", "ml", spec, CHART_DEFAULTS)
    for _, container in pods(service):
        env = env_of(container)
        assert env["KILN_AUTH_TOKEN"] == {"secretKeyRef": {"name": "tok", "key": "token"}}
        assert {k: env[k] for k in AWS_KEYS} == secret_env("reg-creds")
        assert env["AWS_ENDPOINT_URL"] == ENDPOINT
    default = render.render_rayservice("pets", "ml", deployment(), CHART_DEFAULTS)
    for _, container in pods(default):
        assert {k: env_of(container)[k] for k in AWS_KEYS} == secret_env("kiln-storage")


def test_a_gs_uri_mounts_the_secrets_gcs_key_and_points_the_google_chain_at_it():
    settings = OperatorSettings(runs_uri="gs://runs-bucket/kiln", storage_secret="gcp")
    job = render.render_rayjob("jena", "ml", training(), settings)
    service = render.render_rayservice("pets", "ml", deployment(registry="gs://reg"), settings)
    for pod, container in pods(job) + pods(service):
        path = env_of(container)["GOOGLE_APPLICATION_CREDENTIALS"]
        assert path == "/var/run/secrets/kiln/storage/gcs-credentials.json"
        (volume,) = [v for v in pod["volumes"] if v["name"] == "storage-credentials"]
        assert volume["secret"] == {
            "secretName": "gcp",
            "items": [{"key": "gcs-credentials.json", "path": "gcs-credentials.json"}],
            "optional": True,
        }
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "storage-credentials"]
        assert mount == {"name": "storage-credentials", "mountPath": path.rpartition("/")[0],
                         "readOnly": True}  # fmt: skip
    # An S3-only deployment of the same operator carries no key file.
    s3_only = render.render_rayservice("pets", "ml", deployment(), settings)
    assert all("GOOGLE_APPLICATION_CREDENTIALS" not in env_of(c) for _, c in pods(s3_only))


@pytest.mark.parametrize("ref", [{"name": "s3", "accessKey": "AKIA..."}, {"name": "Not_A_Name"}])
def test_a_storage_secret_ref_holds_a_secret_name_and_nothing_else(ref):
    # Credentials are referenced, never written into a spec: no other key is accepted.
    with pytest.raises(ConfigError, match="storage_secret_ref|storageSecretRef"):
        training(storageSecretRef=ref)
    with pytest.raises(ConfigError, match="storage_secret_ref|storageSecretRef"):
        deployment(storageSecretRef=ref)


def test_storage_settings_are_read_from_the_charts_variables():
    settings = from_env(
        {
            "KILN_OPERATOR_RUNS_URI": "s3://b/kiln/runs/",
            "KILN_OPERATOR_STORAGE_SECRET": "kiln-storage",
            "KILN_OPERATOR_STORAGE_ENDPOINT_URL": ENDPOINT,
        }
    )
    assert (settings.runs_uri, settings.storage_secret, settings.storage_endpoint_url) == (
        "s3://b/kiln/runs", "kiln-storage", ENDPOINT
    )  # fmt: skip
    with pytest.raises(ConfigError, match="storage_endpoint_url"):
        from_env({"KILN_OPERATOR_STORAGE_ENDPOINT_URL": "minio:9000"})


EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "infra" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_each_examples_children_are_valid_with_no_operator_storage_defaults(
    path, kuberay_validator
):
    """The examples name their own runs URI and Secret, so they render on an operator installed
    without storage values, into objects KubeRay's schemas (strict) and Kubernetes' Pod schema
    (kubernetes-validate --strict) accept, with the credentials on every Ray container."""
    bare = OperatorSettings()
    for doc in yaml.safe_load_all(path.read_text()):
        name, spec = doc["metadata"]["name"], doc["spec"]
        if doc["kind"] == "TrainingJob":
            child = render.render_rayjob(name, "ml", parse_training_job(spec), bare)
            kuberay_validator("rayjobs").validate(child)
            assert f"kiln export {spec['runsUri']}/{name} " in child["spec"]["entrypoint"]
        else:
            child = render.render_rayservice(name, "ml", parse_model_deployment(spec), bare)
            kuberay_validator("rayservices").validate(child)
        secret = spec["storageSecretRef"]["name"]
        for pod, container in pods(child):
            assert {k: env_of(container)[k] for k in AWS_KEYS} == secret_env(secret)
            as_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod}
            kubernetes_validate.validate(as_pod, "1.33", strict=True)
