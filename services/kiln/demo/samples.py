"""Test inputs for the demo's requests, with the truth to score the served answers against.

Images come from the loader's own test split (so they are what the model never trained on);
forecasting windows are cut from the raw Jena CSV rows of the test split, in physical units,
exactly as a client would send them, with the temperature 24 h later as the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiln.data.info import LoadOptions
from kiln.registry import Manifest, TimeseriesPreprocessing
from kiln.tasks import SPECS


@dataclass
class Samples:
    inputs: list = field(default_factory=list)  # images, or windows of row dicts
    truth: list = field(default_factory=list)  # labels, masks, or °C
    naive: list[float] = field(default_factory=list)  # forecasting: the temperature now
    tensors: np.ndarray | None = None  # the same inputs as a model-ready batch (for OIP v2)


def image_samples(task: str, data: Path, options: dict, count: int) -> Samples:
    from kiln.data.loaders import load_splits

    splits = load_splits(task, data, LoadOptions(**options))
    samples = Samples()
    # The test split is stored class by class: a seeded shuffle makes the sample hold every
    # class, so the served accuracy is measured against a real majority-class baseline.
    test = splits.test.shuffle(max(splits.info.split_counts.test, 1), seed=0)
    for x, y in test.take(count).as_numpy_iterator():
        samples.inputs.append(x)
        samples.truth.append(
            y.squeeze().astype(np.int64)
            if SPECS[task].answer == "mask"
            else int(np.asarray(y).reshape(-1)[0])
        )
    samples.tensors = np.stack(samples.inputs).astype(np.float32)
    return samples


def window_samples(data: Path, options: dict, manifest: Manifest, count: int) -> Samples:
    from kiln.data.jena import plan_windows
    from kiln.data.jena_csv import read_jena

    pre = manifest.preprocessing
    assert isinstance(pre, TimeseriesPreprocessing)
    table = read_jena(next(data.glob("*.csv")))
    plan = plan_windows(table, LoadOptions(**options))
    target = table.columns.index(pre.target_column)
    starts = plan.starts("test")
    chosen = starts[np.linspace(0, len(starts) - 1, min(count, len(starts))).astype(int)]
    mean, std = np.asarray(pre.mean), np.asarray(pre.std)
    order = [table.columns.index(column) for column in pre.columns]
    samples, tensors = Samples(), []
    for start in chosen:
        rows = table.values[start : start + plan.span + 1].astype(np.float64)
        samples.inputs.append(
            [
                {column: round(float(row[i]), 4) for i, column in enumerate(table.columns)}
                for row in rows
            ]
        )
        samples.truth.append(float(table.values[start + plan.delay, target]))
        samples.naive.append(float(table.values[start + plan.span, target]))
        window = rows[:: plan.sampling_rate][:, order]
        tensors.append((window - mean) / std)
    samples.tensors = np.stack(tensors).astype(np.float32)
    return samples
