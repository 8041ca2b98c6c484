"""Run directories in the INTERFACES.md layout, as ``kiln train`` leaves them, for export tests.

``write_run`` writes run.json (a ``kiln.runs.RunRecord`` with dataset_info), best.keras,
validation_sample.npz and, when given one, training_sample.npz, so
export is tested against the real contract without a Ray run. The ``*_info`` helpers describe
small datasets (32×32 images, 12-step windows): the tests prove conversion and parity, not
accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kiln.data.info import DatasetInfo
from kiln.runs import RunDir, RunRecord

SEQUENCE_LENGTH = 12
# The segmentation run's training sample: brighter than its validation sample (uniform 0..255),
# so the manifest's training statistics show which split they came from.
TRAINING_SAMPLE = (
    np.random.default_rng(7).uniform(150, 250, (24, 32, 32, 3)).round().astype("uint8")
)
JENA_COLUMNS = [f"c{i}" for i in range(13)] + ["T (degC)"]


def image_info(task: str = "segmentation", size: int = 32, channels: int = 3, classes=None):
    names = classes or (
        ["foreground", "background", "outline"] if task == "segmentation" else ["cat", "dog"]
    )
    return DatasetInfo(
        task=task,
        layout="pets" if task == "segmentation" else ("mnist" if channels == 1 else "folder"),
        root="/synthetic",
        input_shape=[size, size, channels],
        num_classes=len(names),
        class_names=names,
        image_height=size,
        image_width=size,
        image_channels=channels,
        split_counts={"train": 8, "validation": 4, "test": 4},
        fingerprint={
            "root": "/synthetic",
            "file_count": 16,
            "total_bytes": 1000,
            "sha256": "ab" * 32,
        },
    )


def jena_info(sequence_length: int = SEQUENCE_LENGTH):
    columns = JENA_COLUMNS
    return DatasetInfo(
        task="forecasting",
        layout="jena",
        root="/synthetic/jena",
        input_shape=[sequence_length, len(columns)],
        columns=columns,
        mean=[float(i) for i in range(len(columns))],
        std=[1.0 + i for i in range(len(columns))],
        sequence_length=sequence_length,
        sampling_rate=6,
        target_column="T (degC)",
        horizon_hours=24.0,
        row_interval_minutes=10.0,
        delay_rows=6 * (sequence_length + 24 - 1),
        naive_baseline_mae=2.44,
        split_counts={"train": 100, "validation": 50, "test": 50},
        fingerprint={
            "root": "/synthetic/jena",
            "file_count": 1,
            "total_bytes": 5000,
            "sha256": "cd" * 32,
        },
    )


def sample_for(info: DatasetInfo, count: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (count, *info.input_shape)
    if info.is_image:
        return rng.uniform(0, 255, size=shape).astype(np.float32)
    return rng.normal(size=shape).astype(np.float32)


def write_run(
    root: Path,
    model,
    info: DatasetInfo,
    *,
    run_id: str,
    architecture: str,
    sample: np.ndarray | None = None,
    evaluation: dict | None = None,
    training: np.ndarray | None = None,
) -> Path:
    """Write a run directory the way kiln.training does."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    model.save(run_dir / "best.keras")
    x = sample if sample is not None else sample_for(info)
    np.savez(run_dir / "validation_sample.npz", x=x, y=np.zeros(len(x)))
    if training is not None:
        np.savez(run_dir / "training_sample.npz", x=training)
    record = RunRecord(
        run_id=run_id,
        task=info.task,
        model=architecture,
        status="completed",
        dataset_info=info,
        per_worker_batch_size=4,
        global_batch_size=8,
        workers=2,
        epochs_requested=1,
        epochs_trained=1,
        evaluation=evaluation if evaluation is not None else {"loss": 0.5, "test": {"mae": 2.1}},
    )
    RunDir(run_dir).write_record(record)
    return run_dir
