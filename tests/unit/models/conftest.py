"""DatasetInfo values for building models without loading data."""

from __future__ import annotations

from kiln.data.info import DatasetInfo, Fingerprint, SplitCounts

_COUNTS = SplitCounts(train=1, validation=1, test=1)
_PRINT = Fingerprint(root="/synthetic", file_count=0, total_bytes=0, sha256="0" * 64)


def image_info(layout: str, side: int, channels: int = 3, classes: int = 2) -> DatasetInfo:
    task = "segmentation" if layout == "pets" else "classification"
    return DatasetInfo(
        task=task,
        layout=layout,
        root="/synthetic",
        input_shape=[side, side, channels],
        num_classes=classes,
        class_names=[f"class{i}" for i in range(classes)],
        image_height=side,
        image_width=side,
        image_channels=channels,
        split_counts=_COUNTS,
        fingerprint=_PRINT,
    )


def series_info(sequence_length: int = 120, columns: int = 14) -> DatasetInfo:
    return DatasetInfo(
        task="forecasting",
        layout="jena",
        root="/synthetic",
        input_shape=[sequence_length, columns],
        columns=[f"c{i}" for i in range(columns)],
        sequence_length=sequence_length,
        sampling_rate=6,
        target_column="c1",
        horizon_hours=24.0,
        split_counts=_COUNTS,
        fingerprint=_PRINT,
    )
