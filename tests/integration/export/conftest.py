"""Real Kiln data and models for export: synthetic data in the real layouts, read by the real
loaders, models from ``kiln.models.build``, fitted briefly, saved as a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kiln.data.info import LoadOptions

# Small sizes: conversion and parity do not need the book's 200×200 images or 120-step windows.
DATASETS = {
    "segmentation": ("segmentation", 12, LoadOptions(image_size=(32, 32))),
    "folder": ("classification", 16, LoadOptions(image_size=(32, 32))),
    "mnist": ("classification", 40, LoadOptions()),
    # conv1d's three kernels and poolings need windows of at least 66 steps.
    "jena": ("forecasting", 30, LoadOptions(sequence_length=72)),
}
KIND_OF_LAYOUT = {
    "segmentation": "segmentation",
    "folder": "classification",
    "mnist": "mnist",
    "jena": "forecasting",
}


@pytest.fixture(scope="session")
def splits_by_layout(tmp_path_factory):
    """One loaded dataset per layout, shared by every architecture that fits it."""
    from kiln.data.loaders import load_splits
    from kiln.data.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("data")
    loaded = {}
    for layout, (task, size, options) in DATASETS.items():
        out = root / layout
        write_synthetic(KIND_OF_LAYOUT[layout], out, size=size, seed=1)
        loaded[layout] = load_splits(task, out, options)
    return loaded


def write_kiln_run(root: Path, architecture: str, splits, sample_size: int = 16) -> Path:
    """Build ``architecture`` with Kiln's builder, give it trained-looking weights, and write
    the run directory the way ``kiln train`` does (run.json, best.keras, validation_sample.npz,
    and training_sample.npz by training's own ``kiln.training.training_sample``).

    Every weight is nudged at random instead of training (which would spend most of the test
    compiling a train step): zero biases would hide a gate-order mistake, and BatchNorm's moving
    statistics must leave 0/1 so a training-mode trace (batch statistics) would show.
    """
    from kiln.models.build import build_model
    from kiln.training.training_sample import encode, training_sample

    info = splits.info
    model = build_model(architecture, info)
    rng = np.random.default_rng(7)
    for weight in model.weights:
        value = np.asarray(weight) + rng.normal(0, 0.05, weight.shape)
        if "variance" in weight.path:
            value = np.abs(value) + 0.5
        weight.assign(value.astype("float32"))
    x, y = zip(*splits.validation.take(sample_size).as_numpy_iterator(), strict=True)
    run_dir = root / f"{architecture}-run"
    run_dir.mkdir(parents=True)
    model.save(run_dir / "best.keras")
    np.savez(run_dir / "validation_sample.npz", x=np.stack(x), y=np.stack(y))
    (run_dir / "training_sample.npz").write_bytes(encode(training_sample(splits.train, info)))
    record = {
        "run_id": run_dir.name,
        "task": info.task,
        "model": architecture,
        "status": "completed",
        "dataset_info": json.loads(info.model_dump_json()),
        "workers": 1,
        "per_worker_batch_size": 8,
        "global_batch_size": 8,
        "epochs_requested": 1,
        "epochs_trained": 1,
        "evaluation": {"test_loss": 1.0},
    }
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir
