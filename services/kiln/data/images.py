"""Decoding images and trimaps with Pillow, with a record of everything skipped or converted.

Why Pillow and not ``tf.io.decode_image``: real folders hold grayscale, RGBA, CMYK and PNG files
named ``.jpg`` (the Pets and cats-vs-dogs archives both do). TensorFlow fails on some of these
inside the pipeline, mid-epoch, where one bad file kills the run; Pillow lets the loader look at
each file once, convert what is convertible, skip what is not, and say so up front.

Why threads: Pillow releases the GIL while it decodes and resizes, so a small thread pool uses
every core for the one-time decode (the full Pets set takes tens of seconds on one core).
Results and warnings are merged in file order, so a run's record reads the same every time.

Why decode once into memory: the datasets Kiln trains on in tests and demos are hundreds of
small images, and decoding them every epoch would cost more than training. Pixels are kept as
uint8 (a quarter of float32) and cast in the pipeline; the full Pets set at 200×200 is about
0.9 GB this way. Loaders refuse, with a DataError, a dataset whose decoded size exceeds
``LoadOptions.memory_budget_mb`` rather than letting the machine swap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from kiln.errors import DataError

log = logging.getLogger(__name__)

# Modes that carry an alpha channel: composited over white so transparent areas do not turn black.
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
MAX_WARNINGS = 100
DECODE_THREADS = min(8, os.cpu_count() or 1)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class DecodeReport:
    """What happened to the files a loader looked at; copied into ``DatasetInfo``."""

    skipped: int = 0
    converted: int = 0
    warnings: list[str] = field(default_factory=list)
    quiet: bool = False  # Per-item reports in worker threads: the merge logs, in order.
    _noted: int = 0

    def skip(self, path: Path, reason: str) -> None:
        self.skipped += 1
        self.note(f"skipped {path}: {reason}")

    def convert(self, path: Path, reason: str) -> None:
        self.converted += 1
        self.note(f"converted {path}: {reason}")

    def note(self, message: str) -> None:
        """Log every message; keep the first ``MAX_WARNINGS`` for DatasetInfo (and run.json),
        then only count, so a folder of ten thousand bad files does not bloat the record."""
        if not self.quiet:
            log.warning(message)
        self._noted += 1
        if self._noted <= MAX_WARNINGS:
            self.warnings.append(message)

    @property
    def all_warnings(self) -> list[str]:
        hidden = self._noted - len(self.warnings)
        if hidden <= 0:
            return list(self.warnings)
        return [*self.warnings, f"... and {hidden} more warning(s), see the log"]

    def merge(self, other: DecodeReport) -> None:
        self.skipped += other.skipped
        self.converted += other.converted
        for message in other.warnings:
            self.note(message)


def decode_in_order(
    function: Callable[[Item, DecodeReport], Result],
    items: Iterable[Item],
    report: DecodeReport,
) -> Iterator[Result]:
    """``function(item, report)`` for every item on a thread pool, yielded in item order, with
    each item's report merged into ``report`` in that order. An exception (a DataError for a
    bad mask) stops the pool and propagates."""

    def run(item: Item) -> tuple[Result, DecodeReport]:
        local = DecodeReport(quiet=True)
        return function(item, local), local

    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="kiln-decode")
    try:
        for result, local in pool.map(run, items):
            report.merge(local)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def check_memory(count: int, height: int, width: int, channels: int, budget_mb: int) -> None:
    """Refuse to decode more pixels than the memory budget allows (see the module docstring)."""
    needed = count * height * width * channels
    if needed > budget_mb * 1024 * 1024:
        raise DataError(
            f"decoding {count} images at {height}x{width}x{channels} needs "
            f"{needed / 2**20:.0f} MB, more than the memory budget of {budget_mb} MB; "
            "use a smaller image_size or raise memory_budget_mb"
        )


# Modes that hold no colour: a dataset made only of these is read with one channel.
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})


def image_channels(paths: Iterable[Path]) -> int:
    """1 when every readable image among ``paths`` is grayscale, else 3: chosen from the data,
    not assumed. Reads file headers only; unreadable files are left to the decode to skip."""
    for path in paths:
        try:
            with Image.open(path) as image:
                gray = image.mode in _GRAY_MODES
        except (OSError, SyntaxError, ValueError):
            continue
        if not gray:
            return 3
    return 1


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float grayscale: scale to 8 bits before expanding to three channels.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.size and array.max() > 0 else 1.0
        gray = Image.fromarray((array / peak * 255.0).astype(np.uint8))
        return gray.convert("RGB")
    return image.convert("RGB")


def read_image(
    path: Path, size: tuple[int, int], channels: int, report: DecodeReport
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The image at ``path`` resized to ``size`` (height, width) as uint8 ``(h, w, channels)``,
    with its original (width, height); or None (and a counted warning) if it cannot be used."""
    try:
        with Image.open(path) as opened:
            opened.load()  # Forces the full decode, so a truncated file fails here, not later.
            original = opened.size
            notes = []
            if path.suffix.lower() in _JPEG_SUFFIXES and opened.format != "JPEG":
                notes.append(f"a {opened.format} file named {path.suffix}")
            wanted = "RGB" if channels == 3 else "L"
            image: Image.Image = opened
            if opened.mode != wanted:
                notes.append(f"mode {opened.mode} to {wanted}")
                image = _to_rgb(opened) if channels == 3 else _to_rgb(opened).convert("L")
            resized = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    except Image.DecompressionBombError as e:
        report.skip(path, f"too large to decode safely ({e})")
        return None
    except (OSError, SyntaxError, ValueError) as e:
        # UnidentifiedImageError and truncated-file errors are OSErrors.
        report.skip(path, f"not a decodable image ({e})")
        return None
    if notes:
        report.convert(path, "; ".join(notes))
    array = np.asarray(resized, dtype=np.uint8)
    if channels == 1:
        array = array[..., np.newaxis]
    return array, original


def read_trimap(
    path: Path, size: tuple[int, int], report: DecodeReport
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The Pets trimap at ``path`` as uint8 labels 0, 1, 2 (from 1, 2, 3), resized to ``size``
    with nearest-neighbour so no in-between label is invented, with its original (width, height).

    A mask that does not decode is skipped with a warning (its image goes with it); a mask that
    decodes but holds a value other than 1, 2, 3 raises DataError naming the file, because
    guessing would silently mislabel pixels.
    """
    try:
        with Image.open(path) as image:
            image.load()
            original = image.size
            array = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as e:
        report.skip(path, f"trimap is not a decodable image ({e})")
        return None
    if array.ndim == 3:
        # An RGB(A) trimap is usable only if it is really gray: all colour channels equal.
        if not (array[..., :3] == array[..., :1]).all():
            raise DataError(
                f"trimap {path} is a colour image; expected one channel of values 1, 2, 3"
            )
        array = array[..., 0]
    values = np.unique(array)
    unexpected = [int(v) for v in values if v not in (1, 2, 3)]
    if unexpected:
        raise DataError(
            f"trimap {path} holds value(s) {unexpected[:10]}; expected only 1 (foreground), "
            "2 (background) and 3 (border)"
        )
    mask = Image.fromarray(array.astype(np.uint8))
    resized = mask.resize((size[1], size[0]), Image.Resampling.NEAREST)
    return np.asarray(resized, dtype=np.uint8) - 1, original
