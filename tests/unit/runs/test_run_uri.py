"""A run at a run URI behaves the same in a local directory and on a real S3 API (moto)."""

from __future__ import annotations

import json

import pytest

from kiln.errors import ConfigError, DataError, NotFound
from kiln.runs import RunDir, RunRecord, list_runs, run_uri
from kiln.training import TrainConfig


@pytest.fixture(params=["local", "s3"])
def runs(request, tmp_path):
    """Where runs go: a local directory, or ``s3://<fresh bucket>/runs`` on moto."""
    if request.param == "local":
        return str(tmp_path / "runs")
    return request.getfixturevalue("s3_bucket") + "/runs"


def record(run_id: str, started: str = "2026-01-01T00:00:00+00:00") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        task="forecasting",
        model="dense",
        workers=2,
        per_worker_batch_size=8,
        global_batch_size=16,
        epochs_requested=2,
        timings={"started": started},
    )


def create(runs: str, run_id: str) -> RunDir:
    config = TrainConfig(task="forecasting", model="dense", data="d", out=runs, run_id=run_id)
    return RunDir.create(runs, run_id, config)


def test_a_run_round_trips_its_config_record_and_files(runs, tmp_path):
    run = create(runs, "r1")
    assert run.uri == run_uri(runs, "r1") and run.run_id == "r1"
    assert run.read_config(TrainConfig).run_id == "r1"
    run.write_record(record("r1"))
    assert run.read_record() == record("r1")
    local = tmp_path / "scratch" / "best.keras"
    local.parent.mkdir()
    local.write_bytes(b"model bytes")
    run.upload(local, "best.keras")
    assert run.download("best.keras", tmp_path / "back.keras").read_bytes() == b"model bytes"
    logs = tmp_path / "logs"
    (logs / "ray").mkdir(parents=True)
    (logs / "ray" / "worker.out").write_text("hello")
    run.upload_tree(logs, "logs")
    assert run.read_bytes("logs/ray/worker.out") == b"hello"


def test_a_second_run_under_the_same_id_is_refused(runs):
    create(runs, "taken")
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        create(runs, "taken")


def test_runs_are_listed_newest_first_and_strays_skipped(runs):
    create(runs, "old").write_record(record("old", "2026-01-01T00:00:00"))
    create(runs, "new").write_record(record("new", "2026-02-01T00:00:00"))
    RunDir(run_uri(runs, "stray")).write_bytes("notes.txt", b"not a run")
    assert [r.run_id for r in list_runs(runs)] == ["new", "old"]


def test_missing_and_malformed_records_are_clear_errors(runs):
    run = create(runs, "r")
    with pytest.raises(NotFound, match="is not a run directory: it has no run.json"):
        run.read_record()
    with pytest.raises(NotFound, match="has no best.keras"):
        run.read_bytes("best.keras")
    run.write_bytes("run.json", json.dumps({"run_id": "r", "status": "exploded"}).encode())
    with pytest.raises(DataError, match=r"run.json is not a Kiln run record: .*status"):
        run.read_record()
