"""Oxford-IIIT Pets: ``images/*.jpg`` with ``annotations/trimaps/*.png`` → segmentation splits.

The book's recipe: trimap values 1, 2, 3 become labels 0, 1, 2; images and masks are resized to
200×200 (masks with nearest-neighbour); the pairs are shuffled with one seed so they stay
aligned; the last 1,000 are validation. Kiln also carves a test split for evaluation: the
``test_count`` pairs just before the validation ones. On small data both counts are clamped to
a fifth of the pairs each, and the clamp is recorded as a warning.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from kiln.data.images import (
    DecodeReport,
    check_memory,
    decode_in_order,
    read_image,
    read_trimap,
)
from kiln.data.info import DEFAULT_IMAGE_SIZE, DatasetInfo, LoadOptions, SplitCounts
from kiln.data.layout import IMAGE_SUFFIXES, fingerprint, visible
from kiln.data.splits import Splits, image_dataset
from kiln.errors import DataError

CLASS_NAMES = ["foreground", "background", "border"]


def _pairs(root: Path, report: DecodeReport) -> list[tuple[Path, Path]]:
    images_dir = root / "images"
    trimaps_dir = root / "annotations" / "trimaps"
    pairs = []
    ignored = 0
    for image in sorted(images_dir.iterdir()):
        if not visible(image) or not image.is_file():
            continue
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            ignored += 1  # The real archive ships a few .mat files next to the photos.
            continue
        trimap = trimaps_dir / f"{image.stem}.png"
        if not trimap.is_file():
            report.skip(image, f"no trimap {trimap.name} in {trimaps_dir}")
            continue
        pairs.append((image, trimap))
    if ignored:
        report.note(f"ignored {ignored} non-image file(s) in {images_dir}")
    return pairs


def split_sizes(count: int, options: LoadOptions, report: DecodeReport) -> tuple[int, int]:
    if count < 3:
        raise DataError(
            f"found {count} usable image/trimap pair(s); need at least 3 "
            "(one each for training, validation and test)"
        )
    cap = max(1, count // 5)
    sizes = []
    for name, wanted in (("validation", options.validation_count), ("test", options.test_count)):
        if wanted > cap:
            report.note(
                f"{name} split clamped from {wanted} to {cap} pairs: only {count} usable pairs "
                "(each held-out split takes at most a fifth)"
            )
            wanted = cap
        sizes.append(wanted)
    return sizes[0], sizes[1]


def _decode_pair(
    pair: tuple[Path, Path], report: DecodeReport, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """One (image, labels) pair, or None (with a counted warning) if it cannot be used."""
    image_path, trimap_path = pair
    decoded = read_image(image_path, size, 3, report)
    if decoded is None:
        return None
    read = read_trimap(trimap_path, size, report)
    if read is None:
        return None
    (pixels, original), (mask, mask_size) = decoded, read
    if mask_size != original:
        report.skip(
            image_path,
            f"image is {original[0]}x{original[1]} but its trimap is "
            f"{mask_size[0]}x{mask_size[1]}; they would not align",
        )
        return None
    return pixels, mask


def load_pets(root: Path, options: LoadOptions) -> Splits:
    height, width = options.image_size or (DEFAULT_IMAGE_SIZE["pets"],) * 2
    report = DecodeReport()
    pairs = _pairs(root, report)
    # One seeded shuffle of the pairs (not of images and masks separately) keeps them aligned.
    order = np.random.default_rng(options.seed).permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    check_memory(len(pairs), height, width, 4, options.memory_budget_mb)

    decode = partial(_decode_pair, size=(height, width))
    x = np.empty((len(pairs), height, width, 3), np.uint8)
    y = np.empty((len(pairs), height, width), np.uint8)
    count = 0
    for decoded in decode_in_order(decode, pairs, report):
        if decoded is not None:
            x[count], y[count] = decoded
            count += 1
    x, y = x[:count], y[:count]
    n_val, n_test = split_sizes(count, options, report)
    n_train = count - n_val - n_test
    info = DatasetInfo(
        task="segmentation",
        layout="pets",
        root=str(root),
        input_shape=[height, width, 3],
        num_classes=3,
        class_names=CLASS_NAMES,
        image_height=height,
        image_width=width,
        image_channels=3,
        split_counts=SplitCounts(train=n_train, validation=n_val, test=n_test),
        skipped_files=report.skipped,
        converted_files=report.converted,
        warnings=report.all_warnings,
        fingerprint=fingerprint(root, [p for pair in pairs for p in pair]),
    )
    return Splits(
        train=image_dataset(x[:n_train], y[:n_train]),
        test=image_dataset(x[n_train : n_train + n_test], y[n_train : n_train + n_test]),
        validation=image_dataset(x[n_train + n_test :], y[n_train + n_test :]),
        info=info,
    )
