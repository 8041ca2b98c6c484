"""Operator settings from the environment, and the drift check behind an idempotent apply."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError
from kiln_operator.kube import is_subset
from kiln_operator.settings import DEFAULT_IMAGE, from_env


def test_settings_default_without_environment_and_read_kiln_operator_variables():
    assert from_env({}).image == DEFAULT_IMAGE
    settings = from_env(
        {"KILN_OPERATOR_DEFAULT_IMAGE": "me/ray:2", "KILN_OPERATOR_METRICS_PORT": "0"}
    )
    assert (settings.image, settings.metrics_port) == ("me/ray:2", 0)


def test_the_charts_ray_defaults_are_read():
    # The chart's ConfigMap spells booleans "1"/"0" (templates/configmap.yaml).
    settings = from_env(
        {
            "KILN_OPERATOR_RAY_AUTH_MODE": "disabled",
            "KILN_OPERATOR_SERVE_HA_PROXY": "0",
            "KILN_OPERATOR_SERVE_THROUGHPUT_OPTIMIZED": "1",
            "KILN_OPERATOR_GCS_REDIS_ADDRESS": "redis:6379",
            "KILN_OPERATOR_GCS_REDIS_PASSWORD_SECRET": "redis-auth",
        }
    )
    assert settings.ray_auth_mode == "disabled"
    assert (settings.serve_ha_proxy, settings.serve_throughput_optimized) == (False, True)
    assert (settings.gcs_redis_address, settings.gcs_redis_password_secret) == (
        "redis:6379",
        "redis-auth",
    )
    # Empty values (the chart's defaults for Redis) leave GCS fault tolerance off.
    empty = {"KILN_OPERATOR_GCS_REDIS_ADDRESS": "", "KILN_OPERATOR_GCS_REDIS_PASSWORD_SECRET": ""}
    assert from_env(empty).gcs_redis_address == ""


@pytest.mark.parametrize(
    "environ, problem",
    [
        ({"KILN_OPERATOR_RAY_AUTH_MODE": "kerberos"}, "ray_auth_mode"),
        ({"KILN_OPERATOR_SERVE_HA_PROXY": "maybe"}, "serve_ha_proxy"),
        ({"KILN_OPERATOR_GCS_REDIS_PASSWORD_SECRET": "redis-auth"}, "gcs_redis_address is empty"),
    ],
)
def test_a_bad_ray_default_is_a_clear_error(environ, problem):
    with pytest.raises(ConfigError, match=problem):
        from_env(environ)


def test_a_bad_setting_names_the_variable():
    with pytest.raises(ConfigError, match="metrics_port"):
        from_env({"KILN_OPERATOR_METRICS_PORT": "http"})


def test_server_defaults_and_extra_fields_are_not_drift():
    wanted = {"entrypoint": "kiln train", "groups": [{"replicas": 2}]}
    actual = {
        "entrypoint": "kiln train",
        "submissionMode": "K8sJobMode",
        "groups": [{"replicas": 2, "numOfHosts": 1}],
    }
    assert is_subset(wanted, actual)


@pytest.mark.parametrize(
    "actual",
    [
        {"entrypoint": "kiln train --epochs 3", "groups": [{"replicas": 2}]},
        {"entrypoint": "kiln train", "groups": [{"replicas": 2}, {"replicas": 1}]},
        {"entrypoint": "kiln train", "groups": [{"replicas": "2"}]},
        {"groups": [{"replicas": 2}]},
    ],
)
def test_a_changed_missing_or_extra_item_is_drift(actual):
    assert not is_subset({"entrypoint": "kiln train", "groups": [{"replicas": 2}]}, actual)


@pytest.mark.parametrize(
    ("code", "body", "kind"),
    [
        (409, "conflict", "Retryable"),
        (429, "too many requests", "Retryable"),
        (503, "unavailable", "Retryable"),
        (404, "the server could not find the requested resource", "Retryable"),  # no CRD yet
        (422, "spec.rayClusterSpec: Invalid value", "Refused"),
        (403, "forbidden", "Refused"),
    ],
)
def test_api_errors_are_sorted_into_retryable_and_refused(code, body, kind):
    from kubernetes.client.exceptions import ApiException

    from kiln_operator.kube import _error

    raised = ApiException(status=code, reason="x")
    raised.body = body  # set as the client sets it from a response (no `body=` in every version)
    error = _error(raised, "creating RayJob ml/r")
    assert type(error).__name__ == kind
    assert error.message.startswith(f"creating RayJob ml/r: HTTP {code}")


def test_retry_delay_grows_and_is_capped():
    from kiln_operator.reconcile import retry_delay

    assert [retry_delay(n) for n in (0, 1, 2)] == [5.0, 10.0, 20.0]
    assert retry_delay(50) == 300.0
