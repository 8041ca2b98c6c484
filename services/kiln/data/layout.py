"""Which on-disk layout a path holds, and the dataset fingerprint. TF-free: file names only.

Layouts (the real datasets' own):
  pets   — ``images/*.jpg`` and ``annotations/trimaps/*.png`` (Oxford-IIIT Pets).
  folder — one sub-folder per class (``cat/``, ``dog/``), optionally inside ``train/``,
           ``validation/`` and ``test/`` (the book's cats-vs-dogs split).
  mnist  — ``mnist.npz`` (or any single ``.npz``) with ``x_train, y_train, x_test, y_test``.
  jena   — ``jena_climate_2009_2016.csv`` (or a single ``.csv`` whose header starts with
           ``Date Time``, the Jena preset).
  image_masks — ``images/`` and ``masks/`` matched by stem, with ``classes.txt`` / ``.json``.
  timeseries_csv — any other single ``.csv`` (reads its header line only to tell it from Jena),
           or a single ``.parquet``.
  labels_csv — ``labels.csv`` whose header starts ``path,label``, listing images (the listing
           wins over class folders beside it: the images may well sit in sub-folders).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path

from kiln import tasks
from kiln.data.info import TASK_LAYOUTS, Fingerprint
from kiln.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
SPLIT_DIRS = ("train", "validation", "test")
JENA_FILE = "jena_climate_2009_2016.csv"
MNIST_FILE = "mnist.npz"
LABELS_FILE = "labels.csv"


def visible(path: Path) -> bool:
    """Dotfiles (``.DS_Store``, ``._cat.1.jpg`` from macOS archives) are never data."""
    return not path.name.startswith(".")


def subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and visible(p))


def _single_file(path: Path, suffix: str, preferred: str) -> Path | None:
    if path.is_file():
        return path if path.suffix.lower() == suffix else None
    if not path.is_dir():
        return None
    if (path / preferred).is_file():
        return path / preferred
    found = sorted(p for p in path.glob(f"*{suffix}") if p.is_file() and visible(p))
    return found[0] if len(found) == 1 else None


def jena_csv(path: Path) -> Path | None:
    """The Jena CSV at or inside ``path``, if there is exactly one."""
    return _single_file(path, ".csv", JENA_FILE)


def timeseries_file(path: Path) -> Path | None:
    """The one timeseries file at or inside ``path``: a single ``.csv``, else a single
    ``.parquet``."""
    return jena_csv(path) or _single_file(path, ".parquet", "")


def _holds_jena(path: Path) -> bool:
    csv = jena_csv(path)
    return csv is not None and (csv.name == JENA_FILE or _first_cell(csv) == "Date Time")


def _first_cell(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline().split(",")[0].strip().strip('"')
    except OSError:
        return ""


def holds_labels_csv(path: Path) -> bool:
    """Whether ``path`` is a folder with a ``labels.csv`` whose header starts ``path,label``."""
    listing = path / LABELS_FILE
    if not listing.is_file():
        return False
    try:
        with listing.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return [cell.strip().lower() for cell in header[:2]] == ["path", "label"]


def mnist_npz(path: Path) -> Path | None:
    """The MNIST ``.npz`` at or inside ``path``, if there is exactly one."""
    return _single_file(path, ".npz", MNIST_FILE)


def _has_images(path: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir() if visible(p))


def _is_class_folder_root(path: Path) -> bool:
    """A root whose sub-folders (or whose ``train/`` sub-folders) hold images."""
    root = path / "train" if (path / "train").is_dir() else path
    classes = subdirs(root)
    return len(classes) >= 1 and all(_has_images(c) for c in classes)


def _holds_pets(path: Path) -> bool:
    return (path / "images").is_dir() and (path / "annotations" / "trimaps").is_dir()


def _holds_folder(path: Path) -> bool:
    return path.is_dir() and not holds_labels_csv(path) and _is_class_folder_root(path)


# How to recognise each layout on disk (file names only).
DETECTORS: dict[str, Callable[[Path], bool]] = {
    "pets": _holds_pets,
    "folder": _holds_folder,
    "mnist": lambda path: mnist_npz(path) is not None,
    "jena": _holds_jena,
    "timeseries_csv": lambda path: timeseries_file(path) is not None,
    "image_masks": lambda path: (path / "images").is_dir() and (path / "masks").is_dir(),
    "labels_csv": holds_labels_csv,
}


def holds(layout: str, path: Path) -> bool:
    """Whether ``path`` holds data in ``layout``."""
    return DETECTORS[layout](path)


def detect_layout(task: str, path: str | Path) -> str:
    """The layout of the data at ``path`` for ``task``, or a DataError saying what was found
    and what the task expects.

    The task's own layouts are tried first (a stray ``labels.csv`` next to class folders does
    not make them a Jena dataset); other layouts are looked at only to explain a refusal.
    """
    if task not in tasks.SPECS:
        raise DataError(f"unknown task {task!r}; expected one of {', '.join(tasks.TASKS)}")
    hint = tasks.SPECS[task].layout_hint
    path = Path(path)
    if not path.exists():
        raise DataError(f"data path {path} does not exist")
    expected = TASK_LAYOUTS[task]
    for layout in expected:
        if holds(layout, path):
            return layout
    others = [layout for layouts in TASK_LAYOUTS.values() for layout in layouts]
    found = next((layout for layout in others if holds(layout, path)), None)
    if found is not None:
        raise DataError(
            f"{path} holds {found!r} data, which the {task} task cannot read; "
            f"expected the {' or '.join(expected)} layout ({hint})"
        )
    raise DataError(
        f"{path} holds no recognised {task} data; expected the {' or '.join(expected)} "
        f"layout ({hint})"
    )


def fingerprint(root: Path, files: list[Path]) -> Fingerprint:
    """Fingerprint of ``files`` under ``root``: count, bytes and a hash of (path, size) lines."""
    lines = []
    total = 0
    for file in sorted(files):
        size = file.stat().st_size
        total += size
        try:
            name = file.relative_to(root).as_posix()
        except ValueError:
            name = file.name
        lines.append(f"{name}\t{size}")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return Fingerprint(root=str(root), file_count=len(files), total_bytes=total, sha256=digest)
