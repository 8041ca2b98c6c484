"""``load_splits(task, path, options)``: the one entry point from a data path to tf.data splits.

It detects (or takes) the layout, dispatches to that layout's loader, and returns unbatched
``(x, y)`` datasets with float32 inputs plus a ``DatasetInfo``. Each layout's recipe and its
handling of messy files is documented in its own module: ``pets``, ``classification``
(folder and MNIST), ``labels_csv`` (a path,label listing), ``jena`` / ``jena_csv`` (the Jena preset) and ``timeseries`` (any CSV).

``path`` may be an object-store URI (``s3://``, ``gs://``): the dataset is then staged into
the node's scratch cache by :func:`kiln.storage.stage` (each Ray worker stages its own copy;
workers on one node share the cache) and loaded from there by the same loaders, so the
messy-data rules are the same. The returned info names the URI, not the cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from kiln import storage
from kiln.data.classification import load_folder, load_mnist
from kiln.data.info import TASK_LAYOUTS, LoadOptions
from kiln.data.jena import load_jena
from kiln.data.labels_csv import load_labels_csv
from kiln.data.layout import detect_layout, jena_csv, mnist_npz, timeseries_file
from kiln.data.masks import load_image_masks
from kiln.data.pets import load_pets
from kiln.data.splits import Splits
from kiln.data.timeseries import load_timeseries_csv
from kiln.errors import DataError

__all__ = ["Splits", "load_splits"]


def load_splits(task: str, path: str | Path, options: LoadOptions | None = None) -> Splits:
    """Train, validation and test datasets for ``task`` from the data at ``path`` (a local
    path or an object-store URI)."""
    if storage.is_remote(str(path)):
        splits = _load_local(task, storage.stage(str(path)), options)
        info = splits.info.model_copy(
            update={
                "root": str(path),
                "fingerprint": splits.info.fingerprint.model_copy(update={"root": str(path)}),
            }
        )
        return dataclasses.replace(splits, info=info)
    return _load_local(task, Path(path).expanduser().resolve(), options)


def _load_local(task: str, root: Path, options: LoadOptions | None) -> Splits:
    options = options or LoadOptions()
    layout = options.layout or detect_layout(task, root)
    if layout not in TASK_LAYOUTS.get(task, ()):
        raise DataError(
            f"the {layout!r} layout does not hold {task} data; expected one of "
            f"{', '.join(TASK_LAYOUTS.get(task, ())) or 'a known task'}"
        )
    return LOADERS[layout](root, options)


def _load_mnist(root: Path, options: LoadOptions) -> Splits:
    npz = mnist_npz(root)
    if npz is None:
        raise DataError(f"{root} holds no single .npz file; expected mnist.npz")
    return load_mnist(npz, root, options)


def _load_jena(root: Path, options: LoadOptions) -> Splits:
    csv = jena_csv(root)
    if csv is None:
        raise DataError(f"{root} holds no single .csv file; expected jena_climate_2009_2016.csv")
    return load_jena(csv, root, options)


def _load_timeseries_csv(root: Path, options: LoadOptions) -> Splits:
    table = timeseries_file(root)
    if table is None:
        raise DataError(
            f"{root} holds no single .csv or .parquet file; expected one timeseries table"
        )
    return load_timeseries_csv(table, root, options)


# Each layout's loader: (dataset root, options) -> splits.
LOADERS: dict[str, Callable[[Path, LoadOptions], Splits]] = {
    "pets": load_pets,
    "folder": load_folder,
    "mnist": _load_mnist,
    "jena": _load_jena,
    "timeseries_csv": _load_timeseries_csv,
    "image_masks": load_image_masks,
    "labels_csv": load_labels_csv,
}
