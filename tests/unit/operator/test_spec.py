"""The typed spec models: what a CRD schema cannot say is refused here, with a clear message."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError
from kiln_operator.spec import parse_model_deployment, parse_training_job

JOB = {"task": "classification", "model": "mini_xception", "data": "/d", "registry": "/r"}
SERVE = {"task": "forecasting", "modelName": "jena", "registry": "/r"}


def test_a_minimal_training_job_gets_the_documented_defaults():
    job = parse_training_job(JOB)
    assert (job.epochs, job.batch_size, job.workers, job.gpus_per_worker) == (10, 32, 2, 0)
    assert job.export is True
    assert job.registered_name == "mini_xception"
    assert parse_training_job({**JOB, "modelName": "cats"}).registered_name == "cats"


def test_rejects_a_model_of_another_task_naming_the_choices():
    with pytest.raises(ConfigError) as caught:
        parse_training_job({**JOB, "model": "lstm"})
    assert "'lstm'" in caught.value.message
    for choice in ("mini_xception", "residual_convnet", "mnist_convnet"):
        assert choice in caught.value.message


def test_rejects_an_unknown_task_and_a_bad_number_in_one_message():
    with pytest.raises(ConfigError) as caught:
        parse_training_job({**JOB, "task": "translation", "epochs": 0})
    message = caught.value.message
    assert "task" in message and "translation" in message
    assert "epochs" in message and "greater than or equal to 1" in message


@pytest.mark.parametrize("field", ["cpusPerWorker", "memoryPerWorker"])
def test_rejects_a_resource_that_is_not_a_quantity(field):
    with pytest.raises(ConfigError, match="Kubernetes quantity"):
        parse_training_job({**JOB, field: "lots"})


def test_accepts_integer_cpus_as_written_in_yaml():
    assert parse_training_job({**JOB, "cpusPerWorker": 4}).cpus_per_worker == "4"


def test_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="gpus"):
        parse_training_job({**JOB, "gpus": 1})


def test_deployment_version_accepts_numbers_as_int_or_string_and_latest():
    assert parse_model_deployment(SERVE).version == "latest"
    assert parse_model_deployment({**SERVE, "version": "7"}).version == 7
    assert parse_model_deployment({**SERVE, "version": 7}).version == 7
    with pytest.raises(ConfigError, match="version number or 'latest'"):
        parse_model_deployment({**SERVE, "version": "newest"})
    with pytest.raises(ConfigError, match="version >= 1"):
        parse_model_deployment({**SERVE, "version": 0})


def test_rejects_min_replicas_above_max():
    with pytest.raises(ConfigError, match=r"replicas.min \(3\) must not exceed replicas.max \(2\)"):
        parse_model_deployment({**SERVE, "replicas": {"min": 3, "max": 2}})


def test_rejects_a_canary_equal_to_the_primary_version():
    with pytest.raises(ConfigError, match="must differ from version"):
        parse_model_deployment({**SERVE, "version": 2, "canary": {"version": 2}})


def test_rejects_a_model_name_the_registry_cannot_hold():
    with pytest.raises(ConfigError, match="lowercase"):
        parse_model_deployment({**SERVE, "modelName": "Jena Model"})


def test_drift_and_request_logging_default_to_servings_drift_on_logging_off():
    drift = parse_model_deployment(SERVE).drift
    assert (drift.enabled, drift.window, drift.request_log.sample_rate) == (True, 2000, 0.0)
    logged = parse_model_deployment(
        {**SERVE, "drift": {"requestLog": {"sampleRate": 0.1, "uri": "s3://logs/jena/"}}}
    ).drift.request_log
    assert (logged.sample_rate, logged.uri, logged.raw) == (0.1, "s3://logs/jena", False)


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ({"requestLog": {"sampleRate": 0.1}}, "needs a uri"),
        ({"requestLog": {"sampleRate": 0.1, "uri": "/var/log/kiln"}}, "object-store URI"),
        ({"requestLog": {"sampleRate": 1.5, "uri": "s3://logs"}}, "less than or equal to 1"),
        ({"window": 5}, "greater than or equal to 10"),
        ({"requestLog": {"maxAgeS": 0}}, "greater than 0"),
        ({"sampling": 0.1}, "sampling"),
    ],
    ids=["rate-without-uri", "pod-local-dir", "rate-above-1", "tiny-window", "zero-age", "typo"],
)
def test_rejects_drift_settings_serving_would_refuse(drift, message):
    with pytest.raises(ConfigError, match=message):
        parse_model_deployment({**SERVE, "drift": drift})
