"""A model's drift features from its inputs and outputs, the training statistics built from
them, a replica's window scores, and the request log's summaries that rebuild the same counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kiln.drift.monitor import DriftMonitor
from kiln.drift.stats import training_stats
from kiln.drift.summary import summarize_inputs, summarize_outputs, totals_from_summaries
from kiln.registry import ImagePreprocessing, Manifest, TimeseriesPreprocessing

SIZE = 8
TRAINING = 2000


def images(rng, count, brightness=128.0):
    base = rng.normal(brightness, 20.0, (count, 1, 1, 1))
    noise = rng.normal(0.0, 10.0, (count, SIZE, SIZE, 3))
    return np.clip(base + noise, 0, 255).astype(np.float32)


def classify(x):
    """Stands in for a classifier: brighter images lean to class 0, with softmax outputs."""
    logits = np.stack([x.mean(axis=(1, 2, 3)) / 32.0, np.full(len(x), 4.0)], axis=1)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def segment(x):
    return np.concatenate([x[..., :1], 128 - x[..., 1:2], x[..., 2:] * 0.5], axis=-1)


def forecast(x):
    return x[:, -1, :1] * 2.0


PRE = {
    "classification": ImagePreprocessing(
        height=SIZE, width=SIZE, channels=3, class_names=["bright", "dark"]
    ),
    "segmentation": ImagePreprocessing(height=SIZE, width=SIZE, channels=3),
    "forecasting": TimeseriesPreprocessing(
        columns=["p", "T"],
        mean=[0, 0],
        std=[1, 1],
        sequence_length=6,
        sampling_rate=1,
        target_column="T",
        horizon_hours=1,
    ),
}
MODELS = {"classification": classify, "segmentation": segment, "forecasting": forecast}


def inputs(task, rng, count, shift=0.0):
    if task == "forecasting":
        return rng.normal(shift, 1.0, (count, 6, 2)).astype(np.float32)
    return images(rng, count, 128.0 - 40.0 * shift)


def manifest_for(task, rng) -> Manifest:
    x = inputs(task, rng, TRAINING)
    return Manifest(
        name="m",
        version=1,
        task=task,
        architecture="dense",
        inputs=[],
        outputs=[],
        preprocessing=PRE[task],
        training_stats=training_stats(task, PRE[task], x, MODELS[task](x)),
    )


def test_image_statistics_describe_channels_brightness_contrast_and_the_answers():
    manifest = manifest_for("classification", np.random.default_rng(0))
    stats = manifest.training_stats
    assert [f.name for f in stats.inputs] == ["R", "G", "B", "brightness", "contrast"]
    assert stats.inputs[3].mean == pytest.approx(128.0, abs=5.0)
    assert [f.name for f in stats.outputs] == ["confidence", "class"]
    assert (
        stats.outputs[1].categories == ["bright", "dark"]
        and sum(stats.outputs[1].counts) == TRAINING
    )
    assert 0.5 <= stats.mean_confidence <= 1.0
    seg = manifest_for("segmentation", np.random.default_rng(0)).training_stats
    assert seg.outputs[0].categories == ["class_0", "class_1", "class_2"]
    assert sum(seg.outputs[0].counts) == TRAINING * SIZE * SIZE  # every pixel's class


@pytest.mark.parametrize("task", ["classification", "segmentation", "forecasting"])
def test_darkened_or_shifted_traffic_scores_high_and_training_like_traffic_low(task):
    rng = np.random.default_rng(1)
    manifest = manifest_for(task, rng)
    scores = {}
    for shift in (0.0, 1.5):
        monitor = DriftMonitor(manifest, window=300)
        for _ in range(10):
            x = inputs(task, rng, 40, shift)
            monitor.observe(x, MODELS[task](x))
        scores[shift] = monitor.scores()
    assert scores[0.0].samples == scores[1.5].samples == 320
    assert max(scores[0.0].inputs.values()) < 0.1, scores[0.0]
    assert max(scores[1.5].inputs.values()) > 0.5, scores[1.5]
    assert max(scores[0.0].outputs.values()) < 0.1 < max(scores[1.5].outputs.values())


@pytest.mark.parametrize("task", ["classification", "segmentation", "forecasting"])
def test_logged_summaries_rebuild_the_counts_of_the_window(task):
    rng = np.random.default_rng(2)
    manifest = manifest_for(task, rng)
    monitor = DriftMonitor(manifest, window=1000)
    logged_in, logged_out = [], []
    for shift in (0.0, 0.5, 1.0):
        x = inputs(task, rng, 7, shift)
        y = MODELS[task](x)
        monitor.observe(x, y)
        # Through JSON, as the request log writes and the report reads them.
        logged_in += json.loads(json.dumps(summarize_inputs(manifest, x)))
        logged_out += json.loads(json.dumps(summarize_outputs(manifest, y)))
    rebuilt = totals_from_summaries(manifest, logged_in, logged_out)
    assert rebuilt.keys() == monitor.totals().keys()
    for key, counts in monitor.totals().items():
        assert rebuilt[key].tolist() == counts.tolist(), key


def test_a_manifest_without_training_statistics_has_no_monitor():
    manifest = manifest_for("forecasting", np.random.default_rng(3))
    with pytest.raises(ValueError, match="no training statistics"):
        DriftMonitor(manifest.model_copy(update={"training_stats": None}), window=10)
