"""A search that lives in a bucket (moto's S3 server on 127.0.0.1): `kiln tune --out s3://...`
writes its trials' runs (checkpoints included), Ray Tune's experiment state and its report to
the bucket; interrupted like Ctrl+C, it resumes with `kiln tune --resume s3://...` without
running its ended trial again; `kiln runs list` shows it and `kiln export s3://.../SEARCH`
exports its chosen trial. Nothing of the search is written to local disk.

`kiln tune` runs as the command in its own process (and its own local Ray), started after the
S3 server, so its Ray workers get the server's endpoint and credentials from the environment,
as a pod gets them from its Secret. One trial at a time (its one worker reserves the local
Ray's two CPUs), so the interrupt, sent once the first
trial's run says "completed" in the bucket, lands before the second trial can have ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln import storage
from kiln.cli import cli
from kiln.registry import RegistryStore
from kiln.runs import RunDir

pytestmark = [pytest.mark.ray, pytest.mark.slow]
KILN = str(Path(sys.executable).with_name("kiln"))
SPACE = {"models": {"dense": {"units": 8, "learning_rate": {"values": [1e-3, 1e-2]}}}}


def kiln(*args: str, cwd: Path) -> subprocess.Popen:
    # A new local Ray of its own, never one found on this machine.
    env = {**os.environ, "RAY_ADDRESS": "local"}
    return subprocess.Popen(
        [KILN, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env
    )


def status(run: RunDir) -> str | None:
    return run.read_record().status if run.exists("run.json") else None


def test_a_search_in_a_bucket_resumes_lists_and_exports_from_the_bucket(
    jena_dir, s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # `kiln runs list`: one unwrapped row per run
    runs = f"{s3_bucket}/runs"
    search = f"{runs}/s"
    work = tmp_path / "work"  # the commands' working directory: must stay empty
    work.mkdir()
    first = kiln(
        "tune", "--task", "forecasting", "--model", "dense", "--data", str(jena_dir),
        "--trials", "2", "--max-epochs", "1", "--workers-per-trial", "1", "--cpus-per-worker", "2",
        "--steps-per-epoch", "3", "--scheduler", "none", "--space", json.dumps(SPACE),
        "--out", runs, "--search-id", "s", cwd=work,
    )  # fmt: skip
    runs_of = {name: RunDir(f"{search}/trials/s-{name}") for name in ("t000-dense", "t001-dense")}
    try:
        deadline = time.monotonic() + 600
        while status(runs_of["t000-dense"]) != "completed":
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first trial did not complete"
            time.sleep(0.5)
        first.send_signal(signal.SIGINT)  # Ctrl+C
        output = first.communicate(timeout=300)[0]
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, output
    assert "search interrupted" in output, output
    interrupted = json.loads(storage.read_bytes(f"{search}/search.json"))
    assert interrupted["status"] == "interrupted"
    before = runs_of["t000-dense"].read_record()
    assert storage.list_dir(runs_of["t000-dense"].path("checkpoints/ray"))  # in the bucket
    assert storage.exists(f"{search}/tune/search/tuner.pkl")  # Tune's state, for --resume

    second = kiln("tune", "--resume", search, cwd=work)
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0, output
    record = json.loads(storage.read_bytes(f"{search}/search.json"))
    assert record["status"] == "completed" and len(record["trials"]) == 2
    after = runs_of["t000-dense"].read_record()  # not run again: same start, same epochs
    assert after.timings["started"] == before.timings["started"]
    assert after.trained == before.trained == [(1, 0)]
    assert status(runs_of["t001-dense"]) == "completed"
    for name in ("results.txt", "trials.png", "hyperparameters.png", "best_run.txt"):
        assert storage.exists(f"{search}/{name}"), name
    assert record["test_evaluation"]["test_mae_celsius"] > 0

    listing = CliRunner().invoke(cli, ["runs", "list", "--out", runs])
    assert listing.exit_code == 0 and "t001-dense" in listing.output, listing.output
    registry = f"{s3_bucket}/registry"
    exported = CliRunner().invoke(cli, ["export", search, "--registry", registry])
    assert exported.exit_code == 0, exported.output
    manifest = RegistryStore(registry).manifest("dense")
    assert manifest.source_checkpoint == f"{record['best_run_dir']}/best.keras"
    assert list(work.iterdir()) == []
