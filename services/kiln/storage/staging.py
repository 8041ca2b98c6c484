"""Stage a dataset (one file or a directory of them) from an object store into local scratch.

Training reads its data with ordinary file APIs (pandas, PIL), so a remote dataset is copied
once into a cache on the node's disk and the loaders get a local path. The cache is keyed by
each object's ETag and size: a second stage of an unchanged dataset downloads nothing, a
changed object is downloaded again, a removed one is removed. Workers on one node share the
cache; a file lock makes concurrent stagers of one URI take turns, so each object is
downloaded once per node.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from filelock import FileLock
from fsspec.callbacks import Callback

from kiln.storage import faults
from kiln.storage.filesystems import filesystem
from kiln.storage.objects import _require_bucket, write_bytes
from kiln.storage.trees import fetch, remote_files
from kiln.storage.uris import basename, is_remote, join, local_path

CACHE_ENV = "KILN_STAGE_DIR"
PROGRESS_MIN_BYTES = 8 * 2**20
_INDEX = "index.json"


def default_cache_dir() -> Path:
    """``$KILN_STAGE_DIR``, else ``kiln-stage`` in the temporary directory (node-local)."""
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "kiln-stage")


def stage(uri: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A local path holding the dataset at ``uri``: local paths (and ``file://``) are returned
    as they are; an object-store file or directory is copied under ``cache_dir`` (default
    :func:`default_cache_dir`) and re-used while its objects' ETags and sizes are unchanged.
    The returned path keeps the URI's last name (``s3://b/jena.csv`` → ``.../jena.csv``)."""
    text = str(uri)
    if not is_remote(text):
        return Path(local_path(text))
    text = text.rstrip("/")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    slot = cache / hashlib.sha256(text.encode()).hexdigest()[:20]
    slot.mkdir(parents=True, exist_ok=True)
    with FileLock(str(slot) + ".lock"):
        return _stage_locked(text, slot)


def _stage_locked(uri: str, slot: Path) -> Path:
    objects = remote_files(uri)
    if not objects:
        fs, path = filesystem(uri)
        _require_bucket(uri, fs, path, "staging")
        raise faults.translate(uri, "staging", FileNotFoundError(uri))
    single = set(objects) == {""}
    root = slot / basename(uri)
    index_path = slot / _INDEX
    index = _read_index(index_path)
    wanted = {rel: _version(info) for rel, info in objects.items()}
    stale = {rel for rel, version in wanted.items() if index.get(rel) != version}
    missing = {rel for rel in wanted if not _local(root, rel, single).exists()}
    todo = sorted(stale | missing)
    total = sum(int(objects[rel].get("size") or 0) for rel in todo)
    progress = _Progress(uri, total) if total >= PROGRESS_MIN_BYTES else None
    started = time.monotonic()
    for rel in todo:
        fetch(join(uri, rel) if rel else uri, _local(root, rel, single), progress)
        index[rel] = wanted[rel]
        write_bytes(str(index_path), json.dumps(index, sort_keys=True).encode())
    for rel in set(index) - set(wanted):  # objects deleted at the source
        with contextlib.suppress(FileNotFoundError):
            _local(root, rel, single).unlink()
        del index[rel]
    write_bytes(str(index_path), json.dumps(index, sort_keys=True).encode())
    if progress is not None:
        progress.done(time.monotonic() - started)
    return root


def _local(root: Path, rel: str, single: bool) -> Path:
    return root if single else root / rel


def _version(info: dict[str, Any]) -> list[Any]:
    """What identifies an object's content: its ETag (S3), else generation or checksum
    (GCS), else modification time, with its size."""
    tag = info.get("ETag") or info.get("etag") or info.get("generation") or info.get("md5Hash")
    if tag is None:
        tag = str(info.get("LastModified") or info.get("mtime") or info.get("updated") or "")
    return [str(tag).strip('"'), int(info.get("size") or 0)]


def _read_index(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


class _Progress(Callback):  # type: ignore[misc]
    """Progress of a big stage on stderr, one line per tenth (Ray workers' logs keep it)."""

    def __init__(self, uri: str, total: int) -> None:
        super().__init__()
        self.uri = uri
        self.total_bytes = total
        self.done_bytes = 0
        self.shown = 0

    def set_size(self, size: int) -> None:  # per file; the total is known up front
        pass

    def relative_update(self, inc: int = 1) -> None:
        self.done_bytes += inc
        tenth = min(10, self.done_bytes * 10 // max(self.total_bytes, 1))
        if tenth > self.shown:
            self.shown = tenth
            print(
                f"staging {self.uri}: {self.done_bytes / 2**20:.1f} of "
                f"{self.total_bytes / 2**20:.1f} MiB ({tenth * 10}%)",
                file=sys.stderr,
                flush=True,
            )

    def done(self, seconds: float) -> None:
        print(
            f"staged {self.uri}: {self.total_bytes / 2**20:.1f} MiB in {seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
