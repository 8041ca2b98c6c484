"""One worker trains under TensorFlow's default strategy (no MultiWorkerMirroredStrategy) and
keeps the guarantees of a distributed run: checkpoints, a killed worker resumed from the last
one, its rank file.

Shares the session's Ray (``ray_local``); a tiny LSTM, a few steps per epoch.
"""

from __future__ import annotations

import pytest

from kiln.training import TrainConfig, train

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_one_worker_trains_without_mwms_and_resumes_after_a_killed_worker(
    ray_local, jena_dir, tmp_path, quiet_console
):
    config = TrainConfig(
        task="forecasting",
        model="lstm",
        model_options={"units": 8},
        data=str(jena_dir),
        epochs=3,
        workers=1,
        batch_size=32,
        steps_per_epoch=4,
        validation_steps=2,
        max_failures=1,
        # The only worker dies at the start of epoch 2, once; epochs 0 and 1 are checkpointed.
        fail_at_epoch=2,
        out=str(tmp_path),
        run_id="lstm-1w",
    )
    record = train(config, console=quiet_console).record

    assert record.status == "completed" and record.restarts == 1
    assert record.trained == [(1, 0), (1, 1), (2, 2)]
    (rank,) = record.ranks
    # The default strategy: one replica, nothing routed through collective ops.
    assert rank.rank == 0 and rank.num_replicas_in_sync == 1 and rank.attempt == 2
    assert rank.steps_per_epoch == [4] and rank.expected_steps_per_epoch == 4
    assert record.global_batch_size == 32 and record.epochs_trained == 3
