"""Each task's ``/v1`` format: the one table, keyed by task, that the routes and the task
deployments look a format up in."""

from __future__ import annotations

from kiln.registry import Manifest
from kiln.serving.v1.forecasting import ForecastingFormat
from kiln.serving.v1.images import ClassificationFormat, SegmentationFormat
from kiln.serving.v1.parsing import TaskFormat

FORMATS: dict[str, type[TaskFormat]] = {
    "classification": ClassificationFormat,
    "segmentation": SegmentationFormat,
    "forecasting": ForecastingFormat,
}


def format_for(manifest: Manifest) -> TaskFormat:
    return FORMATS[manifest.task](manifest)
