"""TrainConfig validation and the preflight checks that run before any cluster starts."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError
from kiln.training import TrainConfig, load_config, preflight
from kiln.training.config import local_gpu_count


def config(**fields) -> TrainConfig:
    return TrainConfig(**{"task": "forecasting", "model": "lstm", "data": "x", **fields})


def test_global_batch_is_per_worker_batch_times_workers():
    assert config(batch_size=16, workers=3).global_batch_size == 48


def test_a_relative_data_path_becomes_absolute_and_a_uri_stays_as_given(tmp_path, monkeypatch):
    # Ray Train's workers run in Ray's session directory; the user's relative path must not
    # be resolved there.
    monkeypatch.chdir(tmp_path)
    assert config(data="jena").data == str(tmp_path / "jena")
    assert config(data="s3://bucket/jena").data == "s3://bucket/jena"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"workers": 0}, "workers"),
        ({"epochs": 0}, "epochs"),
        ({"task": "painting"}, "task"),
        ({"run_id": "../escape"}, "run_id"),
        ({"reduce_lr": {"factor": 2}}, "factor"),
        ({"unknown_knob": 1}, "unknown_knob"),
    ],
)
def test_rejects_invalid_fields_with_the_field_named(fields, message):
    from kiln.config import validate

    with pytest.raises(ConfigError, match=message):
        validate(TrainConfig, {"task": "forecasting", "model": "lstm", "data": "x", **fields})


def test_preflight_names_the_models_of_the_task(jena_dir):
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*lstm"):
        preflight(config(model="resnet", data=str(jena_dir)))


def test_preflight_refuses_a_model_of_another_task(jena_dir):
    with pytest.raises(ConfigError, match="mini_xception"):
        preflight(config(model="mini_xception", data=str(jena_dir)))


def test_preflight_refuses_data_in_the_wrong_layout(pets_dir):
    with pytest.raises(
        ConfigError, match="--data .*holds .pets. data.*expected the jena or timeseries_csv layout"
    ):
        preflight(config(data=str(pets_dir)))


def test_preflight_refuses_a_missing_data_directory(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        preflight(config(data=str(tmp_path / "nowhere")))


def test_preflight_refuses_gpus_that_do_not_exist(jena_dir):
    with pytest.raises(ConfigError, match=r"need 2 GPUs, but 0 are available.*--gpus-per-worker 0"):
        preflight(config(data=str(jena_dir), gpus_per_worker=1), gpus_available=0)


def test_preflight_counts_this_machines_gpus_by_default(jena_dir):
    # This machine has no GPU (no nvidia-smi); asking for one must fail, not start Ray.
    if local_gpu_count() > 0:
        pytest.skip("this machine has a GPU; the refusal is covered with gpus_available=0")
    with pytest.raises(ConfigError, match="GPUs"):
        preflight(config(data=str(jena_dir), gpus_per_worker=0.5))


def test_preflight_returns_the_layout(jena_dir):
    assert preflight(config(data=str(jena_dir))) == "jena"


def test_load_config_lets_flags_override_the_file(tmp_path, jena_dir):
    path = tmp_path / "train.yaml"
    path.write_text(
        f"task: forecasting\nmodel: dense\ndata: {jena_dir}\nepochs: 7\n"
        "early_stopping: {patience: 2}\n"
    )
    loaded = load_config(path, overrides={"epochs": 3, "workers": None})
    assert (loaded.model, loaded.epochs, loaded.workers) == ("dense", 3, 2)
    assert loaded.early_stopping.patience == 2


def test_load_config_names_the_file_and_the_bad_field(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("task: forecasting\nmodel: dense\ndata: x\nworkers: -1\n")
    with pytest.raises(ConfigError, match=r"train.yaml.*workers"):
        load_config(path)
