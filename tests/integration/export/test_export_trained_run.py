"""`kiln export` on a run directory written by a real `kiln.training` run on local Ray."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kiln.data.info import LoadOptions
from kiln.registry import RegistryStore

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained_run(ray_local, splits_by_layout, tmp_path_factory):
    """One short Ray Train run (2 workers, MultiWorkerMirroredStrategy) of the LSTM with
    recurrent dropout: the model whose export needs the inference twin."""
    from rich.console import Console

    from kiln.training import TrainConfig, train

    data = splits_by_layout["jena"].info.root
    config = TrainConfig(
        task="forecasting",
        model="lstm_dropout",
        data=data,
        data_options=LoadOptions(sequence_length=72),
        epochs=1,
        steps_per_epoch=2,
        workers=2,
        batch_size=16,
        out=str(tmp_path_factory.mktemp("runs")),
        run_id="lstm-dropout-export",
    )
    quiet = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    return train(config, console=quiet)


def test_kiln_export_registers_a_trained_run(trained_run, tmp_path):
    from kiln.cli import cli

    assert trained_run.record.status == "completed"
    registry = tmp_path / "registry"
    result = CliRunner().invoke(
        cli, ["export", str(trained_run.run_dir), "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    assert "exported lstm_dropout:1 (forecasting, lstm_dropout)" in result.stdout

    loaded = RegistryStore(str(registry)).load("lstm_dropout")
    manifest = loaded.manifest
    assert manifest.source_run == "lstm-dropout-export"
    assert manifest.source_checkpoint.endswith("lstm-dropout-export/best.keras")
    assert manifest.dataset_fingerprint == trained_run.record.dataset_info.fingerprint.sha256
    # The run's own evaluation reaches the manifest (the forecasting metrics in °C).
    assert manifest.metrics["test_mae_celsius"] == trained_run.record.evaluation["test_mae_celsius"]
    assert manifest.op_summary.get("LSTM") == 1 and "Loop" not in manifest.op_summary
    assert manifest.parity is not None and manifest.parity.max_abs_diff <= 1e-4
    assert manifest.parity.samples > 4  # the validation sample, not only random inputs
    pre = manifest.preprocessing
    assert pre.kind == "timeseries" and pre.sequence_length == 72
    assert pre.columns == trained_run.record.dataset_info.columns
    assert any("dropout set to 0" in note for note in manifest.notes)
