"""Gathering the ranks' own reports (``ranks/<rank>.json``) into the run record."""

from __future__ import annotations

from collections import Counter

from kiln import storage
from kiln.runs.files import RANKS_DIR
from kiln.runs.record import RankFile, RankReport
from kiln.runs.rundir import RunDir


def gather_ranks(run: RunDir) -> tuple[list[RankReport], int | None]:
    """Every rank's report, by rank, and how many training examples more than one rank read
    (0 means the shards were disjoint; None when no rank reported)."""
    files = []
    for name in storage.list_dir(run.path(RANKS_DIR)):
        if name.endswith(".json"):
            files.append(RankFile.model_validate_json(run.read_bytes(f"{RANKS_DIR}/{name}")))
    if not files:
        return [], None
    files.sort(key=lambda report: report.rank)
    seen = Counter(digest for report in files for digest in set(report.example_digests))
    shared = sum(1 for count in seen.values() if count > 1)
    reports = [RankReport.model_validate(f.model_dump(exclude={"example_digests"})) for f in files]
    return reports, shared
