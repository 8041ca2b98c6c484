"""``export_run`` from a run directory in the INTERFACES layout to a registry entry."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from kiln.errors import ConfigError, DataError, NotFound, ParityError
from kiln.export import export_run
from kiln.export.batching import TIMING_LIMIT, batch_sizes_to_try
from kiln.registry import RegistryStore

from .builders import recurrent_model
from .rundirs import TRAINING_SAMPLE, jena_info, write_run


@pytest.fixture(scope="module")
def exported(segmentation_run, tmp_path_factory):
    registry = tmp_path_factory.mktemp("registry")
    lines: list[str] = []
    manifest = export_run(segmentation_run, str(registry), progress=lines.append)
    return registry, manifest, lines


def test_export_registers_a_complete_manifest(exported, segmentation_run):
    registry, manifest, lines = exported
    assert manifest.ref == "segmentation_convnet:1"
    assert manifest.task == "segmentation" and manifest.architecture == "segmentation_convnet"
    assert [(s.name, s.shape) for s in manifest.inputs] == [("input", [-1, 32, 32, 3])]
    assert [(s.name, s.shape) for s in manifest.outputs] == [("output", [-1, 32, 32, 3])]
    pre = manifest.preprocessing
    assert (pre.kind, pre.height, pre.width, pre.channels, pre.channel_order) == (
        "image",
        32,
        32,
        3,
        "RGB",
    )
    assert pre.class_names == ["foreground", "background", "outline"]
    assert manifest.source_run == "seg-run"
    assert manifest.source_checkpoint.endswith("seg-run/best.keras")
    assert manifest.dataset_fingerprint == "ab" * 32
    assert manifest.metrics == {"loss": 0.9, "accuracy": 0.61}
    assert manifest.opset == 17
    assert manifest.op_summary["ConvTranspose"] == 3
    assert manifest.parity is not None and manifest.parity.samples == 8 + 4
    assert 0 <= manifest.parity.max_abs_diff <= manifest.parity.atol == 1e-4
    assert len(manifest.sha256) == 64 and manifest.size_bytes > 0
    assert {"tensorflow", "tf2onnx", "onnxruntime"} <= set(manifest.producer)
    assert any(line.startswith("parity: 8 validation items") for line in lines)
    # Timed once here so that replicas never time it; which size won depends on the machine.
    assert manifest.preferred_batch_size in batch_sizes_to_try(TIMING_LIMIT)
    assert any(line.startswith("batch size: ") for line in lines)
    # Both CPU runtimes timed and one chosen; which one depends on the machine.
    assert manifest.runtime in ("onnxruntime", "openvino")
    assert set(manifest.runtime_ms_per_item) == {"onnxruntime", "openvino"}
    assert any(line.startswith(f"runtime: {manifest.runtime} (") for line in lines)
    assert lines[-1].startswith("registered segmentation_convnet:1")


def test_training_statistics_come_from_the_training_sample_and_the_exported_graph(
    exported, segmentation_run
):
    _, manifest, lines = exported
    stats = manifest.training_stats
    assert stats is not None and stats.source == "train" and stats.samples == 24
    assert [f.name for f in stats.inputs] == ["R", "G", "B", "brightness", "contrast"]
    brightness = stats.inputs[3]
    # The training sample's pixels (150..250), not the validation sample's (0..255).
    assert brightness.mean == pytest.approx(TRAINING_SAMPLE.mean(), abs=0.01)
    assert 150 <= brightness.edges[0] < brightness.edges[-1] <= 250
    assert sum(brightness.counts) == 24
    (classes,) = stats.outputs
    assert classes.categories == ["foreground", "background", "outline"]
    assert sum(classes.counts) == 24 * 32 * 32  # each training pixel's predicted class
    assert "training statistics: 24 training items" in lines


def test_the_registered_file_serves_the_validation_sample(
    exported, segmentation_run, small_segmentation_model
):
    registry, manifest, _ = exported
    loaded = RegistryStore(str(registry)).load(manifest.name)  # sha256 verified
    session = ort.InferenceSession(loaded.onnx_bytes, providers=["CPUExecutionProvider"])
    x = np.load(segmentation_run / "validation_sample.npz")["x"]
    got = session.run(["output"], {"input": x})[0]
    np.testing.assert_allclose(got, small_segmentation_model(x, training=False), atol=1e-4)


def test_a_second_export_is_a_new_version_under_a_chosen_name(exported, segmentation_run):
    registry, _, _ = exported
    again = export_run(segmentation_run, str(registry), name="pets", atol=1e-3)
    assert again.ref == "pets:1" and again.parity.atol == 1e-3
    assert RegistryStore(str(registry)).names() == ["pets", "segmentation_convnet"]


def test_parity_failure_registers_nothing(segmentation_run, tmp_path):
    registry = tmp_path / "registry"
    # TF and onnxruntime round float32 convolutions differently, so no real model meets 1e-12.
    with pytest.raises(ParityError, match=r"segmentation_convnet: .* above the tolerance 1e-12"):
        export_run(segmentation_run, str(registry), atol=1e-12)
    assert RegistryStore(str(registry)).names() == []


def test_a_forecasting_run_exports_fused_with_its_timeseries_preprocessing(tmp_path, keras):
    model = recurrent_model(keras, "gru", dropout=True, stacked=True)
    run_dir = write_run(
        tmp_path / "runs", model, jena_info(), run_id="gru-run", architecture="stacked_gru"
    )
    manifest = export_run(run_dir, str(tmp_path / "registry"))
    assert manifest.op_summary.get("GRU") == 2 and "Loop" not in manifest.op_summary
    pre = manifest.preprocessing
    assert pre.kind == "timeseries" and pre.sequence_length == 12 and pre.sampling_rate == 6
    assert pre.columns[-1] == pre.target_column == "T (degC)" and pre.horizon_hours == 24.0
    assert pre.mean[:3] == [0.0, 1.0, 2.0] and pre.std[:2] == [1.0, 2.0]
    assert manifest.metrics["naive_baseline_mae"] == 2.44 and manifest.metrics["test_mae"] == 2.1
    assert "recurrent layers exported as fused ONNX ops: GRU×2" in manifest.notes
    assert [s.shape for s in manifest.outputs] == [[-1, 1]]
    # A run from before training samples were written still exports, without statistics.
    assert manifest.training_stats is None


def test_missing_run_directory_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="does not exist"):
        export_run(tmp_path / "nope", str(tmp_path / "registry"))


def test_run_without_checkpoint_is_refused(segmentation_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text((segmentation_run / "run.json").read_text())
    with pytest.raises(NotFound, match="has no checkpoint"):
        export_run(broken, str(tmp_path / "registry"))


def test_a_sample_of_the_wrong_shape_is_a_data_error(segmentation_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(segmentation_run, broken)
    np.savez(broken / "validation_sample.npz", x=np.zeros((2, 16, 16, 3), "float32"))
    with pytest.raises(
        DataError, match=r"x has shape \[2, 16, 16, 3\], expected \[N>0, 32, 32, 3\]"
    ):
        export_run(broken, str(tmp_path / "registry"))


def test_a_failed_run_is_refused(segmentation_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(segmentation_run, broken)
    record = json.loads((broken / "run.json").read_text())
    (broken / "run.json").write_text(json.dumps({**record, "status": "failed"}))
    with pytest.raises(DataError, match="status 'failed'"):
        export_run(broken, str(tmp_path / "registry"))


@pytest.mark.parametrize(("options", "message"), [({"opset": 9}, "opset"), ({"atol": 0}, "atol")])
def test_bad_options_are_config_errors(segmentation_run, tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        export_run(segmentation_run, str(tmp_path / "registry"), **options)


def test_a_bad_registry_name_is_refused_before_converting(segmentation_run, tmp_path):
    with pytest.raises(ConfigError, match="not valid"):
        export_run(segmentation_run, str(tmp_path / "registry"), name="Bad Name")
