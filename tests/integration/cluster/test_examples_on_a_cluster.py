"""Every infra/examples TrainingJob, as the operator renders it, run as a Ray job on a
three-node Ray cluster against a real S3 API (moto on 127.0.0.1).

For each example: synthetic data in the real layout (``kiln data synth``) is uploaded to the
bucket; the operator renders the RayJob with the data, registry and runs URIs pointed at the
bucket and the budget cut down; its entrypoint (``kiln train ... && kiln export ...``) is
submitted through the head's Jobs API, as KubeRay's submitter does. The run must train on 2
workers on 2 different nodes, keep every checkpoint and run file in the bucket, prove from
each rank's own report that the replicas ran in step on disjoint shards, and register the model
in the bucket's registry. The forecasting example also loses a worker node mid-training
(SIGKILL of its raylet and workers), resumes from the bucket's checkpoint on a replacement node,
and is then served by ``kiln serve`` from the bucket alone, with every local copy deleted.

What cannot run here is not run: KubeRay's operator and the pods (the entrypoint is submitted
to a Ray cluster of raylets on this machine instead), and GPUs (the classification example asks
for one per worker; the test asks for none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml
from tests.processes import kiln_serve

from kiln import storage
from kiln.registry import RegistryStore
from kiln.runs import RunDir, RunRecord

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(ROOT.joinpath("infra", "examples").glob("*.yaml"))
KILN = str(Path(sys.executable).with_name("kiln"))
# Per example: the synthetic dataset (kind, size) and the budget. Sizes give each worker at
# least one full batch (the loaders' default image sizes).
SYNTHETIC = {
    "forecasting": ("forecasting", 60),
    "classification": ("classification", 48),
    "segmentation": ("segmentation", 40),
}
EPOCHS = {"forecasting": 5, "classification": 2, "segmentation": 2}
# The image examples' batch and image sizes are cut too: at the loaders' default image sizes
# (180, 200) one step of the examples' own batches takes a minute per worker on this machine.
# The image size goes through the TrainingJob's dataOptions, as a user would set it.
BATCH_SIZE = {"classification": 8, "segmentation": 8}
IMAGE_SIZE = {"classification": 64, "segmentation": 64}
KILLED_EXAMPLE = "forecasting.yaml"
JOB_TIMEOUT_S = 900


def rendered_entrypoint(example: Path, bucket: str, data: str) -> tuple[str, str, str]:
    """The operator's RayJob entrypoint for ``example`` with its URIs in ``bucket``; returns
    (entrypoint, run id, registered name)."""
    from kiln_operator.render import render_rayjob, run_id
    from kiln_operator.settings import OperatorSettings
    from kiln_operator.spec import TrainingJobSpec

    documents = list(yaml.safe_load_all(example.read_text()))
    job = next(doc for doc in documents if doc["kind"] == "TrainingJob")
    task = job["spec"]["task"]
    spec = {
        **job["spec"],
        "data": data,
        "registry": f"{bucket}/registry",
        "runsUri": f"{bucket}/runs",
        "epochs": EPOCHS[task],
        "batchSize": BATCH_SIZE.get(task, job["spec"]["batchSize"]),
        "gpusPerWorker": 0,  # no GPU here
    }
    if task in IMAGE_SIZE:
        spec["dataOptions"] = {**spec.get("dataOptions", {}), "imageSize": IMAGE_SIZE[task]}
    if example.name == KILLED_EXAMPLE:
        spec["maxFailures"] = 1  # Ray Train recovers from the node this test kills
    typed = TrainingJobSpec.model_validate(spec)
    name = job["metadata"]["name"]
    rayjob = render_rayjob(name, "default", typed, OperatorSettings())
    return rayjob["spec"]["entrypoint"], run_id(name), typed.registered_name


def synthesize_to_bucket(task: str, bucket: str, scratch: Path) -> tuple[str, Path]:
    """``kiln data synth`` in the real layout, uploaded to ``bucket``; (URI, local copy)."""
    kind, size = SYNTHETIC[task]
    local = scratch / "data" / task
    result = subprocess.run(
        [KILN, "data", "synth", "--task", kind, "--out", str(local), "--size", str(size)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    uri = f"{bucket}/datasets/{task}"
    storage.upload_dir(local, uri)
    began = time.perf_counter()
    storage.stage(uri, cache_dir=scratch / "stage-probe")  # what each node does, timed once
    print(f"\n{task}: staging the dataset from the bucket took {time.perf_counter() - began:.2f} s")
    return uri, local


def submit(ray_cluster, entrypoint: str, stage_dir: Path) -> str:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.jobs_address)
    return client.submit_job(
        entrypoint=entrypoint,
        # The node-local staging cache a pod would have on its own disk; output unbuffered so
        # the job's log shows each epoch when it is printed.
        runtime_env={"env_vars": {"KILN_STAGE_DIR": str(stage_dir), "PYTHONUNBUFFERED": "1"}},
    )


def wait_for(ray_cluster, job_id: str, *, until_log: str | None = None) -> str:
    """Follow the job until it ends (or until its log shows ``until_log``); its log so far."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.jobs_address)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        logs = client.get_job_logs(job_id)
        if until_log is not None and until_log in logs:
            return logs
        if client.get_job_status(job_id) in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            assert until_log is None, f"the job ended before {until_log!r}:\n{logs[-4000:]}"
            # The log's head too: the first error is often followed by pages of retries.
            assert client.get_job_status(job_id) == JobStatus.SUCCEEDED, (
                f"{logs[:4000]}\n…\n{logs[-2000:]}"
            )
            return logs
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def epochs_reported(logs: str) -> int:
    """Epoch lines the driver printed: each one is printed after its checkpoint is committed."""
    return sum(1 for line in logs.splitlines() if line.lstrip().startswith("epoch "))


def assert_trained_in_step_on_two_nodes(record: RunRecord, worker_nodes: set[str]) -> None:
    ranks = record.ranks
    assert record.status == "completed" and record.workers == 2
    assert [r.rank for r in ranks] == [0, 1] and {r.task_index for r in ranks} == {0, 1}
    assert all(r.num_replicas_in_sync == 2 for r in ranks)
    # Two workers on two different worker nodes (never the head, which has no CPUs).
    assert len({r.node_id for r in ranks}) == 2 and {r.node_id for r in ranks} <= worker_nodes
    info = record.dataset_info
    assert info is not None
    expected = max(1, info.split_counts.train // record.global_batch_size)
    for r in ranks:
        assert r.steps_per_epoch and set(r.steps_per_epoch) == {expected}, r
    # Disjoint shards: no example read by both ranks, and different fingerprints.
    assert record.shared_examples == 0 and ranks[0].examples_sha256 != ranks[1].examples_sha256
    assert all(r.examples_read > 0 for r in ranks)
    # One model, trained in step: bit-identical trainable weights on both ranks at the end.
    assert ranks[0].trainable_weights_sha256 == ranks[1].trainable_weights_sha256


def assert_everything_in_the_bucket(run: RunDir, record: RunRecord) -> None:
    for name in (
        "config.yaml",
        "run.json",
        "metrics.json",
        "best.keras",
        "learning_curves.png",
        "validation_sample.npz",
        "logs/driver.log",
        "ranks/0.json",
        "ranks/1.json",
    ):
        assert run.exists(name), name
    checkpoints = storage.list_dir(run.path("checkpoints/ray"))
    assert [c for c in checkpoints if c.startswith("checkpoint_")], checkpoints


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_the_rendered_training_job_runs_on_a_three_node_cluster_against_s3(
    example, ray_cluster, s3_bucket, tmp_path
):
    task = yaml.safe_load_all(example.read_text()).__next__()["spec"]["task"]
    data, local_data = synthesize_to_bucket(task, s3_bucket, tmp_path)
    entrypoint, run_id, name = rendered_entrypoint(example, s3_bucket, data)
    assert f"--out {s3_bucket}/runs" in entrypoint and f"--data {data}" in entrypoint
    stage_dir = tmp_path / "stage"
    job_id = submit(ray_cluster, entrypoint, stage_dir)
    worker_nodes = set(ray_cluster.node_ids().values())

    killed_at = None
    if example.name == KILLED_EXAMPLE:
        # Once epoch 1's checkpoint is committed (the driver prints the epoch only then),
        # a worker node dies: raylet and training worker SIGKILLed, as when a pod is lost.
        logs = wait_for(ray_cluster, job_id, until_log="epoch   1/")
        committed = epochs_reported(logs)
        killed_at = time.time()
        ray_cluster.kill_worker("a")
        worker_nodes.add(ray_cluster.add_worker("c").node_id)
    logs = wait_for(ray_cluster, job_id)
    assert f"registered {name}:" in logs, logs[-3000:]

    run = RunDir(f"{s3_bucket}/runs/{run_id}")
    record = run.read_record()
    assert_trained_in_step_on_two_nodes(record, worker_nodes)
    if task in IMAGE_SIZE:  # the TrainingJob's dataOptions reached kiln train
        assert tuple(record.dataset_info.input_shape)[:2] == (IMAGE_SIZE[task],) * 2
    assert_everything_in_the_bucket(run, record)
    manifest = RegistryStore(f"{s3_bucket}/registry").manifest(name)
    assert manifest.source_run == run_id and manifest.version == 1
    assert manifest.source_checkpoint == run.path("best.keras")
    print(
        f"\n{example.stem}: checkpoint save+upload+commit per epoch (s): "
        f"{record.timings.get('checkpoint_seconds')}"
    )

    if killed_at is not None:
        assert_resumed_from_the_bucket(record, committed, killed_at, ray_cluster)
        window = forecasting_window(local_data)
        # Every local copy goes: the data, the nodes' staging cache, and the scratch the killed
        # worker left (on a cluster its pod's disk went with it). Finished runs left none.
        temp = Path(tempfile.gettempdir())
        for local in (local_data, stage_dir, *temp.glob(f"kiln-{run_id}-rank*")):
            shutil.rmtree(local)
        assert not list(temp.glob(f"kiln-run-{run_id}-*"))
        answer = serve_from_the_bucket_alone(f"{s3_bucket}/registry", window, tmp_path)
        assert answer["predictions"][0]["unit"] == "degC"


def assert_resumed_from_the_bucket(record, committed, killed_at, ray_cluster) -> None:
    """One restart, resumed from the last checkpoint committed before the kill: at most the
    epoch in flight was lost, nothing was trained twice, the new workers are on live nodes."""
    assert record.restarts == 1
    epochs = [epoch for _, epoch in record.trained]
    assert epochs == list(range(record.epochs_requested))
    resumed_from = next(epoch for attempt, epoch in record.trained if attempt == 2)
    assert resumed_from >= committed  # the in-flight epoch at most
    assert all(r.attempt == 2 for r in record.ranks)
    assert not {r.node_id for r in record.ranks} & set(ray_cluster.removed)
    back = min(r.started_at for r in record.ranks) - killed_at
    print(
        f"\nnode kill: {committed} epochs committed at the kill, resumed at epoch "
        f"{resumed_from} (epochs lost: {committed + 1 - resumed_from} in flight); "
        f"training again {back:.1f} s after the node was lost"
    )


def forecasting_window(data: Path) -> str:
    """The CSV header and the last 715 rows: one window for the served model."""
    lines = next(data.glob("*.csv")).read_text().splitlines()
    return "\n".join([lines[0], *lines[-715:]]) + "\n"


def serve_from_the_bucket_alone(registry: str, window: str, tmp_path: Path) -> dict:
    """``kiln serve --registry s3://...`` in its own process and local Ray; one prediction."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = ("--registry", registry, "--task", "forecasting")
    with kiln_serve(*args, log=tmp_path / "serve.log", env=env) as (url, _):
        reply = httpx.post(
            f"{url}/v1/forecasting/predict",
            content=window,
            headers={"Content-Type": "text/csv"},
            timeout=60,
        )
    assert reply.status_code == 200, reply.text
    return reply.json()
