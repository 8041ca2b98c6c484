"""`kiln train --base`: a head trained on a frozen base, then the base's top layer fine-tuned,
both phases under MultiWorkerMirroredStrategy on Ray Train (2 workers), checkpointed and
resumable across the phase boundary; the record says which layers trained in each phase, and
the layers frozen throughout keep the base's weights bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.runs import RunDir
from kiln.training import TrainConfig, train
from kiln.training.driver import TrainingFailed

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_two_phases_on_ray_train_resume_across_the_boundary(
    ray_local, mnist_dir, tmp_path, quiet_console
):
    import keras

    from kiln.models.vision import mnist_convnet

    base_file = tmp_path / "base.keras"
    base = mnist_convnet((28, 28, 1), 10, filters=(4, 8, 8))
    base.save(base_file)
    config = TrainConfig(
        task="classification",
        model="transfer",
        data=str(mnist_dir),
        base={
            "source": str(base_file),
            "freeze": True,
            "fine_tune_layers": 1,
            "fine_tune_lr": 1e-4,
            "fine_tune_epochs": 1,
        },
        epochs=1,
        workers=2,
        batch_size=16,
        steps_per_epoch=3,
        fail_at_epoch=1,  # a worker dies as fine-tuning starts; nothing restarts it
        out=str(tmp_path),
        run_id="transfer",
    )
    with pytest.raises(TrainingFailed):
        train(config, console=quiet_console)
    run = RunDir(tmp_path / "transfer")
    resumed = CliRunner().invoke(cli, ["train", "--resume", run.uri])
    assert resumed.exit_code == 0, resumed.output

    record = run.read_record()
    assert record.status == "completed" and record.trained == [(1, 0), (2, 1)]
    head, fine_tune = record.phases
    weighted = [layer.name for layer in base.layers if layer.weights][:-1]  # its own head: cut
    assert (head["phase"], head["trainable"], head["frozen"]) == ("head", ["output"], weighted)
    assert fine_tune["phase"] == "fine_tune" and fine_tune["learning_rate"] == 1e-4
    assert fine_tune["trainable"] == [weighted[-1], "output"]
    trained = keras.saving.load_model(run.local / "best.keras", compile=False)
    for name in fine_tune["frozen"]:
        for got, want in zip(
            trained.get_layer(name).get_weights(), base.get_layer(name).get_weights(), strict=True
        ):
            assert np.array_equal(got, want), name
