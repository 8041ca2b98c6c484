"""Whole directories (a run directory, a dataset) between local disk and any URI."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from kiln.storage import faults
from kiln.storage.filesystems import filesystem
from kiln.storage.objects import write_bytes
from kiln.storage.uris import is_remote, join


def upload_dir(local_dir: str | os.PathLike[str], uri: str) -> list[str]:
    """Copy every file under ``local_dir`` to the same relative key under ``uri`` (files that
    exist there are replaced, others are left alone). Each file appears whole. Returns the
    relative paths written."""
    root = Path(local_dir)
    if not root.is_dir():
        raise faults.translate(str(root), "uploading", NotADirectoryError(str(root)))
    written = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        target = join(uri, rel)
        if is_remote(uri):
            fs, path = filesystem(target)
            faults.call(target, "uploading", fs.put_file, str(file), path)
        else:
            write_bytes(target, file.read_bytes())
        written.append(rel)
    return written


def download_dir(uri: str, local_dir: str | os.PathLike[str]) -> list[str]:
    """Copy every object under ``uri`` to the same relative path under ``local_dir``; each
    file is renamed into place once complete. Returns the relative paths written."""
    objects = remote_files(uri)
    if not objects:
        raise faults.translate(uri, "downloading", FileNotFoundError(uri))
    written = []
    for rel in sorted(objects):
        fetch(join(uri, rel), Path(local_dir) / rel)
        written.append(rel)
    return written


def remote_files(uri: str) -> dict[str, dict]:
    """``{relative path: info}`` of every file under ``uri`` (info carries size and ETag)."""
    fs, path = filesystem(uri)
    found = faults.call(uri, "listing", fs.find, path, detail=True)
    base = path.rstrip("/")
    out = {}
    for full, info in found.items():
        if info.get("type") == "directory":
            continue
        rel = full[len(base) :].lstrip("/") if full.startswith(base) else full
        out[rel] = info
    return out


def fetch(uri: str, target: Path, callback: object = None) -> None:
    """Download one object to ``target`` through a temporary name (never a partial file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    fs, path = filesystem(uri)
    try:
        if is_remote(uri):
            kwargs = {"callback": callback} if callback is not None else {}
            faults.call(uri, "downloading", fs.get_file, path, str(tmp), **kwargs)
        else:
            faults.call(uri, "copying", shutil.copyfile, path, tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
