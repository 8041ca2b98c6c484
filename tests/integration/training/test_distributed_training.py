"""Training on a real local Ray: Ray Train V2, 2 workers under MultiWorkerMirroredStrategy,
checkpoints, failure recovery, resume, and the quality bars on synthetic data.

All runs share the session's Ray (``ray_local``); budgets are small and seeded.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from tests.integration.training.epoch_logs import assert_epoch_logs_match

from kiln.cli import cli
from kiln.runs import RunDir
from kiln.training import TrainConfig, train
from kiln.training.driver import TrainingFailed

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RUN_FILES = (
    "config.yaml",
    "run.json",
    "metrics.json",
    "best.keras",
    "learning_curves.png",
    "validation_sample.npz",
    "training_sample.npz",
    "logs/driver.log",
)


def test_two_workers_stay_in_step_survive_a_killed_worker_and_beat_the_naive_forecast(
    ray_local, jena_dir, tmp_path, quiet_console
):
    config = TrainConfig(
        task="forecasting",
        model="lstm",
        data=str(jena_dir),
        epochs=5,
        workers=2,
        batch_size=32,
        max_failures=1,
        # Checkpoints after epochs 1 and 3 (0-based) and at the end; the last worker dies at
        # the start of epoch 3, once, so epoch 2 (not checkpointed) is lost and trained again.
        checkpoint_every=2,
        fail_at_epoch=3,
        out=str(tmp_path),
        run_id="lstm-2w",
    )
    result = train(config, console=quiet_console)
    record = result.record

    assert record.status == "completed"
    # The restarted workers resumed from the checkpoint after epoch 1: the failure cost no
    # more than one checkpoint interval (epoch 2), and epochs 0-1 were not trained again.
    assert record.restarts == 1
    assert record.trained == [(1, 0), (1, 1), (2, 2), (2, 3), (2, 4)]
    assert record.epochs_trained == 5
    # Real synchronisation: both ranks end with bit-identical weights, and the loss falls.
    digests = record.evaluation["rank_trainable_weights_sha256"]
    assert set(digests) == {"0", "1"}
    assert digests["0"] == digests["1"]
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert record.global_batch_size == 64 and record.workers == 2
    assert_ranks_in_step(record, train_items=record.dataset_info.split_counts.train, attempt=2)
    # The quality bar: at least 20 % better than the naive "same as 24 h ago" forecast.
    evaluation = record.evaluation
    assert evaluation["test_mae_celsius"] <= 0.8 * evaluation["naive_baseline_mae_celsius"]

    run_dir = result.run_dir
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    history = json.loads((run_dir / "metrics.json").read_text())
    assert history["epoch"] == [1, 2, 3, 4, 5] and len(history["val_loss"]) == 5
    with np.load(run_dir / "validation_sample.npz") as sample:
        assert sample["x"].shape[1:] == tuple(record.dataset_info.input_shape)
        assert 0 < len(sample["x"]) <= 64
    with np.load(run_dir / "training_sample.npz") as sample:  # export's training statistics
        assert sample["x"].shape[1:] == tuple(record.dataset_info.input_shape)
        assert len(sample["x"]) == min(record.dataset_info.split_counts.train, 512)
    assert record.dataset_info.fingerprint.sha256
    assert RunDir(run_dir).read_config(TrainConfig).run_id == "lstm-2w"
    shown = quiet_console.export_text()
    assert "epoch   5/5" in shown and "test_mae_celsius" in shown


def assert_ranks_in_step(record, *, train_items: int, attempt: int) -> None:
    """What each rank measured inside training: 2 replicas in sync, task indices 0 and 1,
    global examples / global batch steps in every epoch, disjoint shards, equal weights."""
    ranks = record.ranks
    assert [r.rank for r in ranks] == [0, 1]
    assert {r.task_index for r in ranks} == {0, 1}
    assert all(r.num_replicas_in_sync == 2 for r in ranks)
    expected = train_items // record.global_batch_size
    for r in ranks:
        assert r.attempt == attempt and r.expected_steps_per_epoch == expected
        assert r.steps_per_epoch and set(r.steps_per_epoch) == {expected}, r
        assert r.examples_read > 0 and r.examples_sha256
    assert record.shared_examples == 0
    assert ranks[0].examples_sha256 != ranks[1].examples_sha256
    # Together the ranks read every training example once (cache() fills on the first pass).
    assert sum(r.examples_read for r in ranks) == train_items
    assert ranks[0].trainable_weights_sha256 == ranks[1].trainable_weights_sha256


def test_segmentation_on_two_workers_reaches_the_pixel_accuracy_bar(
    ray_local, pets_dir, tmp_path, quiet_console
):
    config = TrainConfig(
        task="segmentation",
        model="segmentation_convnet",
        data=str(pets_dir),
        data_options={"image_size": [32, 32]},
        model_options={"filters": [16, 16, 32, 32]},
        # The model sits at the background share (~0.79) for ~40 steps before it finds the
        # shapes; 16 epochs of 9 steps leave room, and patience outlasts that plateau.
        epochs=16,
        workers=2,
        batch_size=4,
        early_stopping={"patience": 8},
        reduce_lr={"patience": 4},
        out=str(tmp_path),
    )
    record = train(config, console=quiet_console).record
    assert record.evaluation["test_pixel_accuracy"] >= 0.8
    assert 0.0 < record.evaluation["test_mean_iou"] <= 1.0


def test_an_interrupted_classifier_resumes_from_its_checkpoint_and_reaches_the_accuracy_bar(
    ray_local, mnist_dir, tmp_path, quiet_console
):
    config = TrainConfig(
        task="classification",
        model="mnist_convnet",
        data=str(mnist_dir),
        model_options={"filters": [16, 32, 32]},
        epochs=12,
        workers=2,
        batch_size=32,
        fail_at_epoch=6,  # a worker dies at the start of epoch 6 and nothing restarts it
        max_failures=0,
        out=str(tmp_path),
        run_id="interrupted",
    )
    with pytest.raises(TrainingFailed, match="training failed"):
        train(config, console=quiet_console)
    run = RunDir(tmp_path / "interrupted")
    assert run.read_record().status == "failed"
    assert not run.exists("best.keras")  # no half-finished artifacts

    # The same command again, as a retried RayJob runs it: it continues the run it names.
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    again = ["train", "--config", str(config_file), "--if-exists", "resume"]
    resumed = CliRunner().invoke(cli, again)
    assert resumed.exit_code == 0, resumed.output
    assert "did not complete: resuming it" in resumed.output
    record = run.read_record()
    assert record.status == "completed"
    # Epochs 0-5 come from the first attempt's checkpoints; the resumed run started at 6.
    assert record.trained[:7] == [(1, epoch) for epoch in range(6)] + [(2, 6)]
    epochs = [epoch for _, epoch in record.trained]
    assert epochs == sorted(set(epochs))
    assert record.evaluation["test_accuracy"] >= 0.9
    assert run.exists("confusion_matrix.png")
    # Rank 0's TensorBoard and CSV logs span both attempts, every epoch once.
    assert_epoch_logs_match(run.local, json.loads(run.read_bytes("metrics.json")))
    shown = CliRunner().invoke(cli, ["runs", "show", run.uri], env={"COLUMNS": "300"})
    assert f"tensorboard --logdir {run.path('tensorboard')}" in shown.output

    # Once more (a retry after the export failed): nothing is trained again.
    finished = CliRunner().invoke(cli, again, env={"COLUMNS": "300"})
    assert finished.exit_code == 0 and "already completed" in finished.output, finished.output
    assert run.read_record().trained == record.trained
    # Other settings under the same name are another run: refused, naming what differs.
    other = CliRunner().invoke(cli, [*again, "--epochs", "13"], env={"COLUMNS": "300"})
    assert other.exit_code != 0 and "other settings (epochs)" in other.output, other.output
