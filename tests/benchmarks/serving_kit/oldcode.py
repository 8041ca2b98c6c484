"""The code the serving figures are compared with, run side by side with today's in one run.

An older commit's strict ``Manifest`` refuses fields added since, so the old side gets its own
checkout (a temporary ``git worktree``), exports its own registry with its own code, and runs
its own ``kiln serve``: the same ``kiln`` entry point with the old tree first on PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.benchmarks import worktrees

REPO = worktrees.REPO
EXPORT = (
    "import sys; from pathlib import Path; "
    "from tests.benchmarks.serving_kit import models; models.build_registry(Path(sys.argv[1]))"
)


class Tree:
    """A source tree to serve from: this checkout, or ``ref`` checked out under ``scratch``."""

    def __init__(self, scratch: Path, ref: str | None = None) -> None:
        self.ref = ref
        self.root = REPO
        if ref is not None:
            self.root = worktrees.add(ref, scratch)

    def env(self) -> dict[str, str]:
        """The environment that runs this tree's code (Ray's workers inherit PYTHONPATH)."""
        paths = [self.root / "services", self.root / "operators", self.root]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}

    def build_registry(self, registry: Path) -> None:
        """The book's three models exported and registered by this tree's own code."""
        command = [sys.executable, "-c", EXPORT, str(registry)]
        subprocess.run(command, cwd=self.root, env=self.env(), check=True)

    def remove(self) -> None:
        worktrees.remove(self.root)
