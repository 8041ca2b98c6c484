"""Which model each task serves when `kiln serve` is given only a registry."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError, NotFound
from kiln.registry import RegistryStore
from kiln.serving.launch import discover_models


def test_every_task_in_the_registry_is_served_by_its_newest_model(registry, tiny, tmp_path):
    found = discover_models(registry)
    assert {task: choice.name for task, choice in found.items()} == tiny.NAMES
    assert all(choice.version == "latest" for choice in found.values())


def test_a_newer_model_of_the_same_task_wins(tiny, tmp_path):
    store = RegistryStore(str(tmp_path))
    store.register(tiny.manifest("forecasting", "older"), tiny.forecaster())
    store.register(tiny.manifest("forecasting", "newer"), tiny.forecaster())
    assert discover_models(str(tmp_path))["forecasting"].name == "newer"


def test_a_chosen_model_and_version_win(registry):
    found = discover_models(registry, ["classification"], {"classification": "tiny-classifier:2"})
    assert list(found) == ["classification"] and found["classification"].version == 2


def test_a_chosen_ref_is_read_as_the_registry_reads_it(registry):
    found = discover_models(
        registry, ["classification"], {"classification": "tiny-classifier:latest"}
    )
    assert found["classification"].version == "latest"
    with pytest.raises(NotFound, match="not a positive number"):
        discover_models(registry, ["classification"], {"classification": "tiny-classifier:v2"})


def test_a_task_without_a_model_and_an_empty_registry_are_clear_errors(tiny, tmp_path):
    store = RegistryStore(str(tmp_path / "one"))
    store.register(tiny.manifest("forecasting"), tiny.forecaster())
    with pytest.raises(ConfigError, match="has no segmentation model"):
        discover_models(str(tmp_path / "one"), ["segmentation"])
    with pytest.raises(ConfigError, match="holds no models"):
        discover_models(str(tmp_path / "empty"))


def test_a_busy_port_is_refused_before_ray_starts():
    import socket

    from kiln.serving.launch import check_port_free

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            check_port_free("127.0.0.1", port)


def test_serve_flags_for_drift_and_the_request_log_are_checked_before_ray_starts(registry):
    from click.testing import CliRunner

    from kiln.commands.serve import drift_settings, serve

    rate = ["--registry", registry, "--request-log", "/tmp/log", "--log-sample-rate", "1.5"]
    result = CliRunner().invoke(serve, rate)
    assert result.exit_code == 2 and "sample_rate" in result.output
    assert drift_settings(False, None, 0.1) == {"enabled": False}
    assert drift_settings(True, "s3://b/log", 0.2)["request_log"] == {
        "sample_rate": 0.2,
        "uri": "s3://b/log",
    }
