"""The sampled request log read back (``kiln drift report``): every part under a local
directory or an object-store prefix, its JSON lines as records, and the drift of one model
version's logged instances against its manifest's training statistics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiln import storage
from kiln.drift.monitor import INPUT, OUTPUT, DriftScores, score
from kiln.drift.summary import totals_from_summaries
from kiln.errors import DataError, NotFound
from kiln.registry import Manifest

PART_SUFFIX = ".jsonl"


def part_uris(logs: str) -> list[str]:
    """Every log part under ``logs`` (any depth), oldest name first; temporary files skipped."""
    fs, path = storage.filesystem(logs)
    try:
        found = fs.find(path)
    except FileNotFoundError:
        found = []
    scheme = logs.split("://", 1)[0] + "://" if storage.is_remote(logs) else ""
    names = [
        p for p in found if p.endswith(PART_SUFFIX) and not p.rsplit("/", 1)[-1].startswith(".")
    ]
    return [scheme + p for p in sorted(names, key=lambda p: p.rsplit("/", 1)[-1])]


def read_records(logs: str) -> list[dict[str, Any]]:
    uris = part_uris(logs)
    if not uris:
        raise NotFound(f"no request log parts (*{PART_SUFFIX}) under {logs}")
    records = []
    for uri in uris:
        for number, line in enumerate(storage.read_bytes(uri).splitlines(), start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{uri}, line {number}: not a JSON request record ({e})") from e
    return records


@dataclass(frozen=True)
class DriftReport:
    manifest: Manifest
    records: int  # the logged requests of this model version
    skipped: int  # logged requests of other models or versions
    scores: DriftScores
    totals: dict[str, np.ndarray]
    served_means: dict[str, float]  # per numeric feature (a window's mean for timeseries)


def drift_report(manifest: Manifest, records: list[dict[str, Any]]) -> DriftReport:
    """The logged instances of ``manifest``'s model version against its training statistics."""
    if manifest.training_stats is None:
        raise DataError(
            f"{manifest.ref} has no training statistics (exported before Kiln recorded them); "
            "export its run again to compare served traffic with its training data"
        )
    mine = [
        r
        for r in records
        if r.get("model") == manifest.name and r.get("version") == manifest.version
    ]
    if not mine:
        raise NotFound(f"the log holds no requests answered by {manifest.ref}")
    inputs = [item for r in mine for item in r.get("inputs", [])]
    outputs = [item for r in mine for item in r.get("outputs", [])]
    totals = totals_from_summaries(manifest, inputs, outputs)
    scores = score(manifest.training_stats, totals, len(inputs))
    means = _means(inputs) | _means(outputs)
    return DriftReport(manifest, len(mine), len(records) - len(mine), scores, totals, means)


def _means(summaries: list[dict[str, Any]]) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for summary in summaries:
        for name, value in summary.items():
            if isinstance(value, dict) and "mean" in value:
                value = value["mean"]
            if isinstance(value, int | float):
                values.setdefault(name, []).append(float(value))
    return {name: float(np.mean(found)) for name, found in values.items()}


def shares_by_feature(report: DriftReport) -> list[tuple[str, list[str], np.ndarray, np.ndarray]]:
    """(title, bin labels, training shares, served shares) per feature, for the plot."""
    stats = report.manifest.training_stats
    assert stats is not None
    rows = []
    for prefix, features in ((INPUT, stats.inputs), (OUTPUT, stats.outputs)):
        for f in features:
            served = report.totals[prefix + f.name].astype(np.float64)
            training = np.asarray(f.counts, dtype=np.float64)
            labels = f.categories or [f"{f.edges[i]:.3g}" for i in range(len(f.counts))]
            rows.append(
                (
                    f"{prefix}{f.name}",
                    labels,
                    training / max(1.0, training.sum()),
                    served / max(1.0, served.sum()),
                )
            )
    return rows
