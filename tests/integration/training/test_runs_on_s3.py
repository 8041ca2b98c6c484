"""A run that lives in a bucket (moto's S3 server on 127.0.0.1): trained from a dataset in the
bucket, interrupted, resumed with ``kiln train --resume s3://...``, listed and shown by
``kiln runs``, exported by ``kiln export s3://...`` into an S3 registry. Nothing of the run is
written to local disk.

Training runs as the ``kiln`` command in its own process (and its own local Ray), started after
the S3 server, so its Ray workers get the server's endpoint and credentials from the
environment, as a pod gets them from its Secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kiln import storage
from kiln.cli import cli
from kiln.registry import RegistryStore
from kiln.runs import RunDir

pytestmark = [pytest.mark.ray, pytest.mark.slow]
KILN = str(Path(sys.executable).with_name("kiln"))


def kiln(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A new local Ray of its own, never one found on this machine.
    env = {**os.environ, "RAY_ADDRESS": "local"}
    return subprocess.run(
        [KILN, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def test_a_run_in_a_bucket_resumes_lists_and_exports_from_the_bucket(
    jena_dir, s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # `kiln runs list`: one unwrapped row per run
    data = f"{s3_bucket}/datasets/jena"
    storage.upload_dir(jena_dir, data)
    runs = f"{s3_bucket}/runs"
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "task": "forecasting",
                "model": "dense",
                "data": data,
                "epochs": 3,
                "workers": 2,
                "batch_size": 32,
                "fail_at_epoch": 1,  # a worker dies at the start of epoch 1, nothing restarts it
                "max_failures": 0,
                "out": runs,
                "run_id": "in-bucket",
            }
        )
    )
    work = tmp_path / "work"  # the commands' working directory: must stay empty
    work.mkdir()
    failed = kiln("train", "--config", str(config), cwd=work)
    assert failed.returncode != 0, failed.stdout
    run = RunDir(f"{runs}/in-bucket")
    assert run.read_record().status == "failed" and not run.exists("best.keras")
    assert storage.list_dir(run.path("checkpoints/ray"))  # epoch 0's checkpoint, in the bucket

    resumed = kiln("train", "--resume", run.uri, cwd=work)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    record = run.read_record()
    assert record.status == "completed" and record.restarts == 1
    assert record.trained == [(1, 0), (2, 1), (2, 2)]
    assert record.shared_examples == 0 and len(record.ranks) == 2
    for name in ("best.keras", "metrics.json", "validation_sample.npz", "logs/driver.log"):
        assert run.exists(name), name

    listing = CliRunner().invoke(cli, ["runs", "list", "--out", runs])
    assert listing.exit_code == 0 and "in-bucket" in listing.output, listing.output
    shown = CliRunner().invoke(cli, ["runs", "show", "in-bucket", "--out", runs, "--json"])
    assert json.loads(shown.output)["run_id"] == "in-bucket"

    registry = f"{s3_bucket}/registry"
    exported = CliRunner().invoke(cli, ["export", run.uri, "--registry", registry])
    assert exported.exit_code == 0, exported.output
    manifest = RegistryStore(registry).manifest("dense")
    assert manifest.source_run == "in-bucket"
    assert manifest.source_checkpoint == f"{runs}/in-bucket/best.keras"
    assert list(work.iterdir()) == []
