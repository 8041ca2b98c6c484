"""Classification data: a folder of class sub-folders, or MNIST's ``.npz``.

Folder: images are read as grayscale (one channel) when every file is grayscale, else as RGB
(``kiln.data.images.image_channels``). Class names are the sorted sub-folder names (any number ≥ 2); labels are their indices.
With ``train/`` (and optionally ``validation/``, ``test/``) sub-folders, as the book builds
cats-vs-dogs, those are the splits; a missing ``validation/`` or ``test/`` is carved from
``train/`` per class with ``validation_fraction`` / ``test_fraction``. Without them, every
class folder is split per class with the same fractions after one seeded shuffle.

MNIST: ``x_train, y_train, x_test, y_test``; validation is carved from the training arrays
(the last sixth after a seeded shuffle, the book's 10,000 of 60,000); test is ``x_test``.
"""

from __future__ import annotations

import zipfile
from functools import partial
from pathlib import Path

import numpy as np

from kiln.data.images import (
    DecodeReport,
    check_memory,
    decode_in_order,
    image_channels,
    read_image,
)
from kiln.data.info import DEFAULT_IMAGE_SIZE, DatasetInfo, LoadOptions, SplitCounts
from kiln.data.layout import IMAGE_SUFFIXES, SPLIT_DIRS, fingerprint, subdirs, visible
from kiln.data.splits import Splits, image_dataset
from kiln.errors import ConfigError, DataError
from kiln.tasks import Layout

FOLDER_HOLDOUT = 0.15
MNIST_VALIDATION = 1 / 6

Items = list[tuple[Path, int]]


def _class_files(class_dir: Path, report: DecodeReport) -> list[Path]:
    files = []
    for path in sorted(class_dir.iterdir()):
        if not visible(path) or not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            report.skip(path, f"not an image file name (expected one of {sorted(IMAGE_SUFFIXES)})")
            continue
        files.append(path)
    return files


def carve(items: Items, fraction: float, rng: np.random.Generator) -> tuple[Items, Items]:
    """Split ``items`` per class: (kept, carved), carving ``fraction`` of each class (at least
    one image of any class with three or more)."""
    kept: Items = []
    carved: Items = []
    for label in sorted({label for _, label in items}):
        group = [item for item in items if item[1] == label]
        group = [group[i] for i in rng.permutation(len(group))]
        n = round(len(group) * fraction)
        n = max(n, 1) if len(group) >= 3 else n
        carved += group[:n]
        kept += group[n:]
    return kept, carved


def _folder_items(root: Path, options: LoadOptions, report: DecodeReport) -> tuple[list[str], dict]:
    rng = np.random.default_rng(options.seed)
    holdout = options.validation_fraction or FOLDER_HOLDOUT
    split_root = root / "train" if (root / "train").is_dir() else None
    base = split_root or root
    class_names = [d.name for d in subdirs(base)]
    if len(class_names) < 2:
        raise DataError(
            f"{base} holds {len(class_names)} class folder(s) ({', '.join(class_names) or 'none'});"
            " classification needs at least 2 sub-folders of images"
        )

    def collect(directory: Path) -> Items:
        unknown = [d.name for d in subdirs(directory) if d.name not in class_names]
        if unknown:
            raise DataError(
                f"{directory} has class folder(s) {unknown} that {base} does not; "
                f"expected only {class_names}"
            )
        return [
            (path, label)
            for label, name in enumerate(class_names)
            if (directory / name).is_dir()
            for path in _class_files(directory / name, report)
        ]

    items = collect(base)
    splits: dict[str, Items] = {}
    for name in SPLIT_DIRS[1:]:
        if split_root is not None and (root / name).is_dir():
            splits[name] = collect(root / name)
    if "test" not in splits:
        items, splits["test"] = carve(items, options.test_fraction, rng)
    if "validation" not in splits:
        items, splits["validation"] = carve(items, holdout, rng)
    splits["train"] = items
    return class_names, splits


def decode_items(items: Items, size: tuple[int, int], channels: int, report: DecodeReport):
    """Decode ``items`` into one preallocated uint8 array (no second copy from stacking)."""
    images = np.empty((len(items), *size, channels), np.uint8)
    labels = np.empty((len(items),), np.int32)
    count = 0
    decode = partial(_read_item, size=size, channels=channels)
    for decoded in decode_in_order(decode, items, report):
        if decoded is not None:
            images[count], labels[count] = decoded
            count += 1
    return images[:count], labels[:count]


def _read_item(
    item: tuple[Path, int], report: DecodeReport, size: tuple[int, int], channels: int
) -> tuple[np.ndarray, int] | None:
    decoded = read_image(item[0], size, channels, report)
    return None if decoded is None else (decoded[0], item[1])


def load_folder(root: Path, options: LoadOptions) -> Splits:
    height, width = options.image_size or (DEFAULT_IMAGE_SIZE["folder"],) * 2
    report = DecodeReport()
    class_names, items = _folder_items(root, options, report)
    return labelled_splits(root, "folder", class_names, items, (height, width), options, report)


def labelled_splits(
    root: Path,
    layout: Layout,
    class_names: list[str],
    items: dict[str, Items],
    size: tuple[int, int],
    options: LoadOptions,
    report: DecodeReport,
) -> Splits:
    """Decode labelled image files, already split, into splits; grayscale (one channel) when
    every image is grayscale, else RGB."""
    files = [p for v in items.values() for p, _ in v]
    channels = image_channels(files)
    check_memory(len(files), *size, channels, options.memory_budget_mb)
    arrays = {name: decode_items(items[name], size, channels, report) for name in SPLIT_DIRS}
    for name, (x, _) in arrays.items():
        if len(x) == 0:
            raise DataError(
                f"the {name} split of {root} has no usable images; give each class at least "
                f"3 decodable images{', or a non-empty ' + name + '/ folder' if layout == 'folder' else ''}"
            )
    info = DatasetInfo(
        task="classification",
        layout=layout,
        root=str(root),
        input_shape=[*size, channels],
        num_classes=len(class_names),
        class_names=class_names,
        image_height=size[0],
        image_width=size[1],
        image_channels=channels,
        split_counts=SplitCounts(**{name: len(arrays[name][0]) for name in SPLIT_DIRS}),
        skipped_files=report.skipped,
        converted_files=report.converted,
        warnings=report.all_warnings,
        fingerprint=fingerprint(root, files),
    )
    datasets = {name: image_dataset(*arrays[name]) for name in SPLIT_DIRS}
    return Splits(**datasets, info=info)


def _mnist_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz archive: {e}") from e
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks {missing}; expected arrays x_train, y_train, x_test, y_test "
            f"(found {sorted(arrays)})"
        )
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
            raise DataError(
                f"{path}: x_{part} has shape {x.shape} and y_{part} {y.shape}; expected "
                "(n, height, width) images and n labels, n > 0"
            )
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError(f"{path}: y_{part} must hold non-negative integer class labels")
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{path}: x_{part} must hold pixel values in 0..255")
        arrays[f"x_{part}"] = x.astype(np.uint8)[..., np.newaxis]
        arrays[f"y_{part}"] = y.astype(np.int32)
    return arrays


def load_mnist(path: Path, root: Path, options: LoadOptions) -> Splits:
    arrays = _mnist_arrays(path)
    height, width = arrays["x_train"].shape[1:3]
    if options.image_size is not None and tuple(options.image_size) != (height, width):
        raise ConfigError(
            f"{path} holds {height}x{width} images; image_size {options.image_size} cannot "
            "change them (leave it unset for MNIST)"
        )
    x, y = arrays["x_train"], arrays["y_train"]
    order = np.random.default_rng(options.seed).permutation(len(x))
    n_val = max(1, round(len(x) * (options.validation_fraction or MNIST_VALIDATION)))
    if n_val >= len(x):
        raise DataError(f"{path} has {len(x)} training images; too few to carve a validation set")
    train_idx, val_idx = order[:-n_val], order[-n_val:]
    num_classes = int(max(y.max(), arrays["y_test"].max())) + 1
    info = DatasetInfo(
        task="classification",
        layout="mnist",
        root=str(root),
        input_shape=[int(height), int(width), 1],
        num_classes=max(num_classes, 2),
        class_names=[str(i) for i in range(max(num_classes, 2))],
        image_height=int(height),
        image_width=int(width),
        image_channels=1,
        split_counts=SplitCounts(
            train=len(train_idx), validation=len(val_idx), test=len(arrays["x_test"])
        ),
        fingerprint=fingerprint(root, [path]),
    )
    return Splits(
        train=image_dataset(x[train_idx], y[train_idx]),
        validation=image_dataset(x[val_idx], y[val_idx]),
        test=image_dataset(arrays["x_test"], arrays["y_test"]),
        info=info,
    )
