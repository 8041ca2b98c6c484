"""The final evaluation of a run's best model on the test split, in each task's own terms.

Forecasting: MAE in the target's unit (the loaders keep targets in it) next to the naive
baseline's MAE on the same test windows, named by that unit: ``test_mae_celsius`` for Jena's
°C, ``test_mae_kw`` for a ``load (kW)`` column, ``test_mae`` for a target without a unit.
Readers find them by their ``test_mae`` / ``naive_baseline_mae`` prefix, so runs recorded
before units were named read the same. Segmentation: pixel accuracy and mean IoU over the classes that occur, next to the pixel
accuracy of the best constant mask.
Classification: accuracy, and a confusion matrix (also drawn by ``plots``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from kiln.data.info import DatasetInfo

EVALUATION_BATCH = 64
VALIDATION_SAMPLE = 64


def predict_split(model: Any, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and targets for a whole unbatched ``(x, y)`` split, in order.

    ``predict_on_batch`` runs Keras' compiled predict function (traced once per batch shape);
    calling the model eagerly runs it op by op, which for a recurrent model is many times
    slower, with the same numbers."""
    predictions, targets = [], []
    for x, y in dataset.batch(EVALUATION_BATCH):
        predictions.append(np.asarray(model.predict_on_batch(x)))
        targets.append(np.asarray(y))
    return np.concatenate(predictions), np.concatenate(targets)


def class_predictions(outputs: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices from model outputs: one sigmoid unit for two classes, else a softmax."""
    if num_classes == 2 and outputs.shape[-1] == 1:
        return (outputs[..., 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=-1)


# Units whose metric names keep the book's word (the Jena preset's ``test_mae_celsius``).
_UNIT_WORDS = {"degc": "celsius", "°c": "celsius", "c": "celsius", "degf": "fahrenheit"}


def unit_suffix(unit: str | None) -> str:
    """``_celsius`` for °C (and Jena, whose records predate units), ``_kw`` for kW, nothing for
    a target without a unit: metric names say the user's unit, never a unit they did not use."""
    if unit is None:
        return "_celsius"
    word = _UNIT_WORDS.get(unit.strip().lower())
    if word is None:
        word = re.sub(r"[^a-z0-9]+", "_", unit.strip().lower()).strip("_")
    return f"_{word}" if word else ""


def forecasting_metrics(outputs: np.ndarray, targets: np.ndarray, info: DatasetInfo) -> dict:
    mae = float(np.mean(np.abs(outputs.reshape(-1) - targets.reshape(-1))))
    naive = info.naive_baseline_mae
    suffix = unit_suffix(info.target_unit)
    metrics: dict[str, Any] = {f"test_mae{suffix}": mae, f"naive_baseline_mae{suffix}": naive}
    if naive:
        metrics["improvement_over_naive"] = 1.0 - mae / naive
    return metrics


def segmentation_metrics(outputs: np.ndarray, targets: np.ndarray, info: DatasetInfo) -> dict:
    predicted = class_predictions(outputs, max(info.num_classes, outputs.shape[-1]))
    truth = targets.reshape(predicted.shape).astype(np.int64)
    ious = {}
    for label in range(outputs.shape[-1]):
        union = np.logical_or(predicted == label, truth == label).sum()
        if union:
            intersection = np.logical_and(predicted == label, truth == label).sum()
            ious[label] = float(intersection / union)
    # The best constant mask (every pixel the test split's most common class) is the bar a
    # segmentation model must clear, as the naive forecast is for forecasting.
    majority = np.bincount(truth.reshape(-1)).max() / max(1, truth.size)
    return {
        "test_pixel_accuracy": float(np.mean(predicted == truth)),
        "majority_baseline_pixel_accuracy": float(majority),
        "test_mean_iou": float(np.mean(list(ious.values()))) if ious else 0.0,
        "test_iou_per_class": {str(label): iou for label, iou in ious.items()},
    }


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def classification_metrics(outputs: np.ndarray, targets: np.ndarray, info: DatasetInfo) -> dict:
    num_classes = max(info.num_classes, 2)
    predicted = class_predictions(outputs, num_classes)
    truth = targets.reshape(predicted.shape).astype(np.int64)
    return {
        "test_accuracy": float(np.mean(predicted == truth)),
        "confusion_matrix": confusion_matrix(predicted, truth, num_classes).tolist(),
        "class_names": info.class_names,
    }


METRICS = {
    "forecasting": forecasting_metrics,
    "segmentation": segmentation_metrics,
    "classification": classification_metrics,
}


def evaluate(model: Any, test: Any, info: DatasetInfo) -> dict:
    """The task's test metrics for ``model`` (plus the number of test items)."""
    outputs, targets = predict_split(model, test)
    metrics = METRICS[info.task](outputs, targets, info)
    metrics["test_items"] = int(len(targets))
    return metrics


def validation_sample(validation: Any, count: int = VALIDATION_SAMPLE) -> dict[str, np.ndarray]:
    """Up to ``count`` validation items as arrays ``x`` and ``y`` (the export parity gate's)."""
    xs, ys = [], []
    for x, y in validation.take(count):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return {"x": np.stack(xs).astype(np.float32), "y": np.stack(ys)}
