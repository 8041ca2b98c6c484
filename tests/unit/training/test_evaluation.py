"""Each task's test metrics, on arrays whose right answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.data.info import DatasetInfo
from kiln.training import evaluation


def info(task: str, **fields) -> DatasetInfo:
    base = {
        "task": task,
        "layout": {"forecasting": "jena", "segmentation": "pets"}.get(task, "folder"),
        "root": "/d",
        "input_shape": [2],
        "split_counts": {"train": 1, "validation": 1, "test": 1},
        "fingerprint": {"root": "/d", "file_count": 1, "total_bytes": 1, "sha256": "0" * 64},
    }
    return DatasetInfo(**{**base, **fields})


def test_forecasting_reports_mae_in_celsius_next_to_the_naive_baseline():
    outputs = np.array([[10.0], [12.0], [8.0], [11.0]])
    targets = np.array([11.0, 12.0, 10.0, 11.0])
    metrics = evaluation.forecasting_metrics(
        outputs, targets, info("forecasting", naive_baseline_mae=1.5)
    )
    assert metrics["test_mae_celsius"] == pytest.approx(0.75)
    assert metrics["naive_baseline_mae_celsius"] == 1.5
    assert metrics["improvement_over_naive"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("unit", "test_key", "naive_key"),
    [
        (None, "test_mae_celsius", "naive_baseline_mae_celsius"),  # Jena records before units
        ("degC", "test_mae_celsius", "naive_baseline_mae_celsius"),
        ("kW", "test_mae_kw", "naive_baseline_mae_kw"),
        ("m^3/h", "test_mae_m_3_h", "naive_baseline_mae_m_3_h"),
        ("", "test_mae", "naive_baseline_mae"),
    ],
)
def test_forecasting_metric_names_say_the_targets_own_unit(unit, test_key, naive_key):
    fields = {"naive_baseline_mae": 2.0, "target_unit": unit}
    metrics = evaluation.forecasting_metrics(
        np.array([[1.0]]), np.array([2.0]), info("forecasting", **fields)
    )
    assert metrics[test_key] == 1.0 and metrics[naive_key] == 2.0
    assert not any("celsius" in key for key in metrics) or test_key.endswith("celsius")


def test_segmentation_pixel_accuracy_and_mean_iou():
    truth = np.array([[[0, 0], [1, 2]]])
    predicted = np.array([[[0, 1], [1, 2]]])
    outputs = np.eye(3)[predicted]  # one-hot "probabilities"
    metrics = evaluation.segmentation_metrics(outputs, truth, info("segmentation", num_classes=3))
    assert metrics["test_pixel_accuracy"] == pytest.approx(0.75)
    # IoU: class 0 = 1/2, class 1 = 1/2, class 2 = 1.
    assert metrics["test_mean_iou"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    # The best constant mask paints every pixel class 0, right on 2 of the 4.
    assert metrics["majority_baseline_pixel_accuracy"] == pytest.approx(0.5)


def test_binary_classification_reads_one_sigmoid_unit_and_counts_a_confusion_matrix():
    outputs = np.array([[0.9], [0.2], [0.6], [0.4]])
    truth = np.array([1, 0, 0, 0])
    metrics = evaluation.classification_metrics(
        outputs, truth, info("classification", num_classes=2, class_names=["cat", "dog"])
    )
    assert metrics["test_accuracy"] == pytest.approx(0.75)
    assert metrics["confusion_matrix"] == [[2, 1], [0, 1]]


def test_multiclass_classification_takes_the_argmax():
    outputs = np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    truth = np.array([1, 0, 1])
    metrics = evaluation.classification_metrics(
        outputs, truth, info("classification", num_classes=3)
    )
    assert metrics["test_accuracy"] == pytest.approx(2 / 3)
    assert metrics["confusion_matrix"][1] == [0, 1, 1]


def test_validation_sample_takes_at_most_the_requested_items():
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((np.ones((100, 3), np.float32), np.arange(100)))
    sample = evaluation.validation_sample(dataset, count=64)
    assert sample["x"].shape == (64, 3) and sample["x"].dtype == np.float32
    assert sample["y"].tolist() == list(range(64))
