"""Any image/mask pairs → segmentation splits (the ``image_masks`` layout).

On disk: ``images/`` and ``masks/`` whose files match by stem (``images/cell_01.jpg`` ↔
``masks/cell_01.png``), and ``classes.txt`` (one name per line; the line's index is the class
id) or ``classes.json`` (a list of names, or an object mapping ids to names). Rules (tested):
- Masks hold integer class ids, as grayscale or palette PNGs (a palette PNG's indices are the
  ids); a colour (RGB) mask is refused naming the file.
- An id outside the declared classes is refused naming the file and the ids.
- A mask whose size differs from its image's is refused naming both sizes (resizing one to the
  other would shift the labels).
- An image without a mask is skipped with a counted warning; a file that does not decode too.
- The pixel share of each class in the training masks is reported as a warning (imbalance).
Splits and resizing are the Pets preset's (``kiln.data.pets``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from kiln.data.images import DecodeReport, check_memory, read_image
from kiln.data.info import DEFAULT_IMAGE_SIZE, DatasetInfo, LoadOptions, SplitCounts
from kiln.data.layout import IMAGE_SUFFIXES, fingerprint, visible
from kiln.data.pets import split_sizes
from kiln.data.splits import Splits, image_dataset
from kiln.errors import DataError


def read_classes(root: Path) -> list[str]:
    """The class names in id order, from ``classes.txt`` or ``classes.json``."""
    text, js = root / "classes.txt", root / "classes.json"
    if text.is_file():
        names = [line.strip() for line in text.read_text().splitlines() if line.strip()]
    elif js.is_file():
        try:
            loaded = json.loads(js.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{js} is not valid JSON: {e}") from e
        if isinstance(loaded, dict):
            ids = sorted(int(k) for k in loaded)
            if ids != list(range(len(ids))):
                raise DataError(f"{js}: class ids {ids}; expected 0..{len(ids) - 1} without holes")
            names = [str(loaded[str(i)]) for i in ids]
        else:
            names = [str(name) for name in loaded]
    else:
        raise DataError(
            f"{root} has no classes.txt or classes.json; expected one naming the mask ids "
            "(classes.txt: one name per line, the first is id 0)"
        )
    if len(names) < 2 or len(set(names)) != len(names):
        raise DataError(f"{root}: classes {names}; expected at least 2 distinct names")
    return names


def _pairs(root: Path, report: DecodeReport) -> list[tuple[Path, Path]]:
    masks = {p.stem: p for p in (root / "masks").iterdir() if visible(p) and p.is_file()}
    pairs = []
    for image in sorted((root / "images").iterdir()):
        if not visible(image) or image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        mask = masks.get(image.stem)
        if mask is None:
            report.skip(image, f"no mask named {image.stem}.* in {root / 'masks'}")
            continue
        pairs.append((image, mask))
    return pairs


def read_mask(path: Path, classes: list[str], size: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """The mask's class ids resized (nearest) to ``size``, and its original (width, height)."""
    try:
        with Image.open(path) as image:
            image.load()
            original, mode = image.size, image.mode
            array = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"mask {path} is not a decodable image ({e})") from e
    if array.ndim == 3:
        raise DataError(
            f"mask {path} is a colour ({mode}) image; expected integer class ids in one channel "
            "(grayscale or palette PNG)"
        )
    unexpected = sorted({int(v) for v in np.unique(array)} - set(range(len(classes))))
    if unexpected:
        raise DataError(
            f"mask {path} holds class id(s) {unexpected[:10]}; the classes file declares ids "
            f"0..{len(classes) - 1} ({classes})"
        )
    resized = Image.fromarray(array.astype(np.uint8)).resize(
        (size[1], size[0]), Image.Resampling.NEAREST
    )
    return np.asarray(resized, dtype=np.uint8), original


def _shares(masks: np.ndarray, classes: list[str]) -> str:
    counts = np.bincount(masks.reshape(-1), minlength=len(classes))
    shares = counts / max(1, counts.sum())
    parts = ", ".join(f"{name} {share:.1%}" for name, share in zip(classes, shares, strict=True))
    return f"class shares of the training pixels: {parts}"


def load_image_masks(root: Path, options: LoadOptions) -> Splits:
    height, width = options.image_size or (DEFAULT_IMAGE_SIZE["image_masks"],) * 2
    classes = read_classes(root)
    report = DecodeReport()
    pairs = _pairs(root, report)
    order = np.random.default_rng(options.seed).permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    check_memory(len(pairs), height, width, 4, options.memory_budget_mb)
    x = np.empty((len(pairs), height, width, 3), np.uint8)
    y = np.empty((len(pairs), height, width), np.uint8)
    count = 0
    for image_path, mask_path in pairs:
        mask, mask_size = read_mask(mask_path, classes, (height, width))
        decoded = read_image(image_path, (height, width), 3, report)
        if decoded is None:
            continue
        if decoded[1] != mask_size:
            raise DataError(
                f"mask {mask_path} is {mask_size[0]}x{mask_size[1]} but its image {image_path} "
                f"is {decoded[1][0]}x{decoded[1][1]}; they must be the same size"
            )
        x[count], y[count] = decoded[0], mask
        count += 1
    n_val, n_test = split_sizes(count, options, report)
    n_train = count - n_val - n_test
    report.note(_shares(y[:n_train], classes))
    info = DatasetInfo(
        task="segmentation",
        layout="image_masks",
        root=str(root),
        input_shape=[height, width, 3],
        num_classes=len(classes),
        class_names=classes,
        image_height=height,
        image_width=width,
        image_channels=3,
        split_counts=SplitCounts(train=n_train, validation=n_val, test=n_test),
        skipped_files=report.skipped,
        converted_files=report.converted,
        warnings=report.all_warnings,
        fingerprint=fingerprint(root, [p for pair in pairs for p in pair]),
    )
    test_end = n_train + n_test
    return Splits(
        train=image_dataset(x[:n_train], y[:n_train]),
        test=image_dataset(x[n_train:test_end], y[n_train:test_end]),
        validation=image_dataset(x[test_end:count], y[test_end:count]),
        info=info,
    )
