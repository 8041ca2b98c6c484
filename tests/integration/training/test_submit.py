"""`kiln submit` against a real Ray head on 127.0.0.1, started by this test and stopped after.

The head is a separate cluster from the test session's Ray: its own ports, its own temp dir.
It is stopped by terminating exactly the processes it started (its process tree), never with
`ray stop`, which would stop every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from ray.job_submission import JobStatus, JobSubmissionClient

from kiln.cli import cli
from kiln.commands.submit import use_local_auth_token
from kiln.runs import RunDir

pytestmark = [pytest.mark.ray, pytest.mark.slow]

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (Linux): what the head started, nothing else."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def stop_tree(process: subprocess.Popen) -> None:
    """Terminate the head and every process it started, by pid; kill what lingers."""
    tree = descendants(process.pid)
    signal_all(tree, signal.SIGTERM)
    process.terminate()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in tree):
        time.sleep(0.5)
    signal_all([pid for pid in tree if Path(f"/proc/{pid}").exists()], signal.SIGKILL)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head with the Jobs API (dashboard) on 127.0.0.1; yields its HTTP address."""
    temp_dir = tempfile.mkdtemp(prefix="kr-")  # short: Ray's socket paths have a length limit
    dashboard = free_port()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    command = [
        str(VENV_BIN / "ray"), "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address=127.0.0.1", f"--port={free_port()}", "--num-cpus=2",
        "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
        f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
        f"--temp-dir={temp_dir}",
    ]  # fmt: skip
    log = open(Path(temp_dir) / "head.out", "w")  # noqa: SIM115
    head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                use_local_auth_token()  # as kiln submit does: Ray enables token auth
                JobSubmissionClient(address)
                break
            except (ConnectionError, RuntimeError):
                pass
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Ray head did not start: {(Path(temp_dir) / 'head.out').read_text()[-2000:]}"
                )
            time.sleep(1)
        yield address
    finally:
        stop_tree(head)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_submit_runs_kiln_train_as_a_ray_job_and_follows_it_to_success(
    ray_head, jena_dir, tmp_path
):
    out = tmp_path / "runs"
    arguments = [
        "submit", "train", "--task", "forecasting", "--model", "dense", "--data", str(jena_dir),
        "--epochs", "2", "--workers", "1", "--steps-per-epoch", "3", "--out", str(out),
        "--run-id", "submitted", "--address", ray_head, "--follow",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    job_id = result.stdout.splitlines()[0].strip()  # stdout holds only the id
    assert job_id.startswith("raysubmit_")
    assert "epoch   2/2" in result.output  # the job's own output, streamed
    record = RunDir(out / "submitted").read_record()
    assert record.status == "completed" and record.epochs_trained == 2
    assert JobSubmissionClient(ray_head).get_job_status(job_id) == JobStatus.SUCCEEDED


def test_submit_exits_non_zero_when_the_job_fails(ray_head, tmp_path):
    arguments = [
        "submit", "--address", ray_head, "--follow", "train", "--task", "forecasting",
        "--model", "dense", "--data", str(tmp_path / "missing"),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1, result.output
    assert "does not exist" in result.output
    assert "FAILED" in result.output


def test_submit_runs_a_kiln_tune_search_as_a_ray_job(ray_head, jena_dir, tmp_path):
    out = tmp_path / "runs"
    arguments = [
        "submit", "tune", "--task", "forecasting", "--model", "dense", "--data", str(jena_dir),
        "--trials", "1", "--max-epochs", "1", "--workers-per-trial", "1", "--scheduler", "none",
        "--steps-per-epoch", "3", "--out", str(out), "--search-id", "submitted",
        "--address", ray_head, "--follow",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert "chosen: t000-dense" in result.output  # the search's report, streamed from the job
    record = json.loads((out / "submitted" / "search.json").read_text())
    assert record["status"] == "completed" and len(record["trials"]) == 1
    # The trial is an ordinary run, trained on the job's cluster and evaluated on the test set.
    run = RunDir(record["best_run_dir"]).read_record()
    assert run.status == "completed" and "test_mae_celsius" in run.evaluation
