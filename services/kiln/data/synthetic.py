"""Synthetic datasets in the real on-disk layouts, for demos, tests and CI.

``write_synthetic(kind, out, size, seed)`` writes one layout into ``out`` and returns what it
wrote. It writes into a temporary sibling directory first and moves the result into place at
the end, so an interrupted run never leaves a half-written dataset that a loader would accept.
The generators themselves live in ``synthetic_images``, ``synthetic_jena`` and
``synthetic_timeseries``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiln.data.synthetic_images import (
    write_folder,
    write_labelled,
    write_masks,
    write_mnist,
    write_pets,
)
from kiln.data.synthetic_jena import write_jena
from kiln.data.synthetic_timeseries import write_timeseries
from kiln.errors import ConfigError
from kiln.tasks import SYNTHETIC_KINDS

# Each layout's writer: (directory, size, seed) -> the files written. The kinds, their default
# sizes and units come from the vocabulary (``kiln.tasks.LayoutSpec``).
WRITERS: dict[str, Callable[[Path, int, int], list[Path]]] = {
    "pets": write_pets,
    "folder": write_folder,
    "mnist": write_mnist,
    "jena": write_jena,
    "timeseries_csv": write_timeseries,
    "image_masks": write_masks,
    "labels_csv": write_labelled,
}
KINDS: tuple[str, ...] = tuple(SYNTHETIC_KINDS)


@dataclass(frozen=True)
class SynthResult:
    kind: str
    layout: str
    out: Path
    size: int
    unit: str
    files: list[Path]

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    def summary(self) -> str:
        return (
            f"wrote {self.size} {self.unit} ({len(self.files)} files, "
            f"{self.total_bytes / 1024:.0f} KiB) in the {self.layout} layout to {self.out}"
        )


def write_synthetic(
    kind: str, out: str | Path, size: int | None = None, seed: int = 0
) -> SynthResult:
    """Write the ``kind`` dataset (segmentation, classification, mnist, forecasting) to ``out``,
    which must not exist or be empty."""
    if kind not in KINDS:
        raise ConfigError(f"unknown synthetic dataset {kind!r}; expected one of {', '.join(KINDS)}")
    spec = SYNTHETIC_KINDS[kind]
    layout, unit, writer = spec.name, spec.synthetic_unit, WRITERS[spec.name]
    size = spec.synthetic_size if size is None else size
    if size < spec.synthetic_minimum:
        raise ConfigError(
            f"--size {size} is too small for {kind}: need at least {spec.synthetic_minimum} "
            f"{unit} so every split gets data"
        )
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty directory; choose a new --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        files = writer(staging, size, seed)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    moved = [out / path.relative_to(staging) for path in files]
    return SynthResult(kind=kind, layout=layout, out=out, size=size, unit=unit, files=moved)
