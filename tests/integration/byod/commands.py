"""What the bring-your-own-data tests share: the `kiln` command as a user types it, and `kiln
serve` on the module's registry (``tests.processes.kiln_serve``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.processes import KILN, kiln_serve


def kiln(*args: str, cwd: Path) -> str:
    """Run `kiln ARGS` in ``cwd``; its stdout, or a failure showing both streams' tails."""
    done = subprocess.run(
        [KILN, *args], cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"kiln {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def serve(root: Path, task: str) -> Iterator[str]:
    """`kiln serve --registry registry --task TASK` in ``root``; yields its URL once ready."""
    args = ("--registry", "registry", "--task", task)
    with kiln_serve(*args, log=root / "serve.log", cwd=root, ready_within_s=180) as (url, _):
        yield url
