"""Per-instance summaries of served inputs and outputs, as the request log records them, and the
window counts rebuilt from them (``kiln drift report``).

An instance's summary holds what drift needs and nothing a person could be recognised by:
an image's channel means, brightness and contrast; a timeseries window's per-feature mean, std,
min, max and its counts in the manifest's bins. Outputs: the forecast, the predicted class and
its confidence, or a mask's pixel count per class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.drift import features
from kiln.drift.monitor import INPUT, OUTPUT, count
from kiln.registry import FeatureStats, Manifest, TimeseriesPreprocessing


def _row_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts per row of ``values`` (rows x values) in the bins of ``edges``, at once."""
    bins = len(edges) - 1
    index = np.searchsorted(np.asarray(edges[1:-1]), values, side="right")
    index = index + np.arange(len(values))[:, None] * bins
    return np.bincount(index.ravel(), minlength=len(values) * bins).reshape(len(values), bins)


def _timeseries_inputs(manifest: Manifest, x: np.ndarray) -> list[dict[str, Any]]:
    pre = manifest.preprocessing
    assert isinstance(pre, TimeseriesPreprocessing)
    stats = manifest.training_stats
    edges = {f.name: f.edges for f in stats.inputs} if stats else {}
    per_feature = {}
    for i, name in enumerate(pre.columns):
        column = np.asarray(x[..., i], dtype=np.float64).reshape(len(x), -1)
        summary: dict[str, Any] = {
            "mean": column.mean(axis=1),
            "std": column.std(axis=1),
            "min": column.min(axis=1),
            "max": column.max(axis=1),
        }
        if name in edges:
            summary["counts"] = _row_counts(column, edges[name])
        per_feature[name] = summary
    return [
        {name: {k: _plain(v[row]) for k, v in s.items()} for name, s in per_feature.items()}
        for row in range(len(x))
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [int(v) for v in value]
    return round(float(value), 6)


def summarize_inputs(manifest: Manifest, x: np.ndarray) -> list[dict[str, Any]]:
    if isinstance(manifest.preprocessing, TimeseriesPreprocessing):
        return _timeseries_inputs(manifest, x)
    values = features.input_values(manifest.preprocessing, x)
    return [{name: _plain(v[row]) for name, v in values.items()} for row in range(len(x))]


def summarize_outputs(manifest: Manifest, outputs: np.ndarray) -> list[dict[str, Any]]:
    values = features.output_values(manifest.task, outputs)
    classes = values.pop(features.CLASS, None)
    rows: list[dict[str, Any]] = [
        {name: _plain(v[row]) for name, v in values.items()} for row in range(len(outputs))
    ]
    if classes is not None:
        count_of = features.output_classes(manifest.task, outputs)
        names = features.class_names(getattr(manifest.preprocessing, "class_names", []), count_of)
        for row, chosen in zip(rows, classes, strict=True):
            if np.ndim(chosen) == 0:
                row[features.CLASS] = names[int(chosen)]
            else:  # a mask: its pixels per class
                pixels = np.bincount(np.ravel(chosen), minlength=count_of)
                row["class_pixels"] = dict(zip(names, (int(p) for p in pixels), strict=True))
    return rows


def _input_counts(feature: FeatureStats, summaries: list[dict[str, Any]]) -> np.ndarray:
    found = [s[feature.name] for s in summaries if feature.name in s]
    if found and isinstance(found[0], dict):  # a timeseries window's counts in the bins
        totals = np.zeros(len(feature.counts), dtype=np.int64)
        for summary in found:
            totals += np.asarray(summary.get("counts", 0), dtype=np.int64)
        return totals
    return count(feature, np.asarray(found, dtype=np.float64))


def _output_counts(feature: FeatureStats, summaries: list[dict[str, Any]]) -> np.ndarray:
    if not feature.categories:
        values = [s[feature.name] for s in summaries if feature.name in s]
        return count(feature, np.asarray(values, dtype=np.float64))
    index = {name: i for i, name in enumerate(feature.categories)}
    totals = np.zeros(len(feature.categories), dtype=np.int64)
    for s in summaries:
        if feature.name in s and s[feature.name] in index:
            totals[index[s[feature.name]]] += 1
        for name, pixels in s.get("class_pixels", {}).items():
            if name in index:
                totals[index[name]] += int(pixels)
    return totals


def totals_from_summaries(
    manifest: Manifest, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """The counts a replica's window would hold for these logged instances."""
    stats = manifest.training_stats
    if stats is None:
        raise ValueError(f"{manifest.ref} has no training statistics to compare with")
    totals = {INPUT + f.name: _input_counts(f, inputs) for f in stats.inputs}
    totals.update({OUTPUT + f.name: _output_counts(f, outputs) for f in stats.outputs})
    return totals
