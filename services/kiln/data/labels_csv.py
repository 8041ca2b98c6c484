"""A CSV of ``path,label`` next to the images → classification splits (the ``labels_csv``
layout).

On disk: ``labels.csv`` whose header starts ``path,label``; each row names an image by its path
relative to the CSV's folder and gives its class name. Rules (tested):
- Class names are the sorted distinct labels (at least 2); labels are their indices.
- A row with a missing cell, an empty path or label, an absolute path or one leaving the folder
  (``..``), a file that does not exist, or the same path listed twice is refused with a
  DataError naming the CSV line: a listing is the user's statement of the data, and guessing
  past a wrong row would train on something else.
- A listed file that does not decode is skipped with a counted warning (as in a folder).
- Images are grayscale (one channel) when every file is, else RGB.
Splits are carved per class with ``test_fraction`` and ``validation_fraction`` (0.15 each by
default) after one seeded shuffle, as for a folder without split sub-folders.
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import numpy as np

from kiln.data.classification import FOLDER_HOLDOUT, Items, carve, labelled_splits
from kiln.data.images import DecodeReport
from kiln.data.info import DEFAULT_IMAGE_SIZE, LoadOptions
from kiln.data.layout import LABELS_FILE
from kiln.data.splits import Splits
from kiln.errors import DataError


def _image_path(root: Path, cell: str, where: str) -> Path:
    relative = PurePosixPath(cell.strip().replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"{where}: path {cell!r} must be relative to {root} and stay inside it")
    path = root / relative
    if not path.is_file():
        raise DataError(f"{where}: {path} does not exist; expected an image file")
    return path


def read_listing(root: Path) -> list[tuple[Path, str]]:
    """The (image path, label) rows of ``root/labels.csv``, or a DataError naming the bad line."""
    listing = root / LABELS_FILE
    rows: list[tuple[Path, str]] = []
    seen: dict[Path, int] = {}
    try:
        with listing.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for row in reader:
                where = f"{listing} line {reader.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise DataError(f"{where}: {row}; expected a path and a label")
                path = _image_path(root, row[0], where)
                if path in seen:
                    raise DataError(f"{where}: {path} is listed again (first on line {seen[path]})")
                seen[path] = reader.line_num
                rows.append((path, row[1].strip()))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{listing} is not a readable CSV: {e}") from e
    return rows


def load_labels_csv(root: Path, options: LoadOptions) -> Splits:
    side = DEFAULT_IMAGE_SIZE["labels_csv"]
    size: tuple[int, int] = options.image_size or (side, side)
    rows = read_listing(root)
    class_names = sorted({label for _, label in rows})
    if len(class_names) < 2:
        raise DataError(
            f"{root / LABELS_FILE} names {len(class_names)} class(es) ({', '.join(class_names)});"
            " classification needs at least 2 labels"
        )
    index = {name: i for i, name in enumerate(class_names)}
    items: Items = [(path, index[label]) for path, label in rows]
    rng = np.random.default_rng(options.seed)
    kept, test = carve(items, options.test_fraction, rng)
    train, validation = carve(kept, options.validation_fraction or FOLDER_HOLDOUT, rng)
    splits = {"train": train, "validation": validation, "test": test}
    report = DecodeReport()
    return labelled_splits(root, "labels_csv", class_names, splits, size, options, report)
