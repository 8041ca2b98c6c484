"""An older commit's code beside today's, for the benchmarks that compare the two in one run
(``--compare-ref REF``): REF checked out in a temporary ``git worktree`` of this repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def add(ref: str, scratch: Path) -> Path:
    """REF checked out (detached) under ``scratch``; its path."""
    path = scratch / f"ref-{ref.replace('/', '_')}"
    command = ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref]
    subprocess.run(command, check=True, capture_output=True)
    return path


def remove(path: Path) -> None:
    """Drop a checkout ``add`` made (this repository's own tree is left alone)."""
    if path != REPO:
        command = ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)]
        subprocess.run(command, check=False, capture_output=True)
