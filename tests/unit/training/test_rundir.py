"""The run directory: created once, written whole, read back, listed."""

from __future__ import annotations

import json

import pytest

from kiln.errors import ConfigError, NotFound
from kiln.runs import RunDir, RunRecord, list_runs
from kiln.training import TrainConfig
from kiln.training.checkpointing import RunState


def make_config(tmp_path, **fields) -> TrainConfig:
    return TrainConfig(task="forecasting", model="dense", data="d", out=str(tmp_path), **fields)


def create(config: TrainConfig, run_id: str) -> RunDir:
    return RunDir.create(config.out, run_id, config.model_copy(update={"run_id": run_id}))


def test_create_writes_the_resolved_config_with_its_run_id(tmp_path):
    run = create(make_config(tmp_path), "first")
    assert run.local == tmp_path / "first"
    assert run.read_config(TrainConfig).run_id == "first"


def test_create_refuses_to_overwrite_another_run(tmp_path):
    create(make_config(tmp_path), "taken")
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        create(make_config(tmp_path), "taken")


def test_reading_a_directory_that_is_not_a_run_says_so(tmp_path):
    with pytest.raises(NotFound, match="no run.json"):
        RunDir(tmp_path).read_record()


def test_metrics_json_holds_the_per_epoch_history(tmp_path):
    run = create(make_config(tmp_path), "m")
    run.write_metrics({"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]})
    data = json.loads(run.read_bytes("metrics.json"))
    assert data == {"epoch": [1, 2], "loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}


def test_run_state_tracks_history_best_loss_and_who_trained_what():
    state = RunState(attempt=2, epochs_completed=1)
    state.record_epoch(1, {"loss": 2.0, "val_loss": 1.5}, 3.0, 100.0)
    state.record_epoch(2, {"loss": 1.0, "val_loss": 1.7}, 3.0, 100.0)
    assert state.trained == [(2, 1), (2, 2)]
    assert state.epochs_completed == 3
    assert state.best_val_loss == 1.5
    assert state.history["loss"] == [2.0, 1.0]


def test_list_runs_shows_newest_first_and_skips_non_runs(tmp_path):
    for run_id, started in (("old", "2026-01-01T00:00:00"), ("new", "2026-02-01T00:00:00")):
        run = create(make_config(tmp_path), run_id)
        run.write_record(
            RunRecord(
                run_id=run_id,
                task="forecasting",
                model="dense",
                workers=1,
                per_worker_batch_size=8,
                global_batch_size=8,
                epochs_requested=1,
                timings={"started": started},
            )
        )
    (tmp_path / "stray").mkdir()
    assert [record.run_id for record in list_runs(tmp_path)] == ["new", "old"]
