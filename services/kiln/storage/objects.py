"""Single objects: read, atomic write, conditional create, exists, list, delete."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from typing import Any

from filelock import FileLock

from kiln.storage import faults
from kiln.storage.filesystems import filesystem
from kiln.storage.uris import basename, bucket_of, is_remote, protocol

_known_buckets: set[tuple[int, str, str]] = set()


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    data: bytes = faults.call(uri, "reading", fs.cat_file, path)
    return data


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` to ``uri``, replacing it; never partially visible (one PUT or upload
    on object stores, a fsynced temporary file renamed into place locally)."""
    fs, path = filesystem(uri)
    if is_remote(uri):
        faults.call(uri, "writing", fs.pipe_file, path, data)
        return
    faults.call(uri, "writing", _write_local, path, data)


def put_if_absent(uri: str, data: bytes) -> bool:
    """Create ``uri`` holding ``data`` only if nothing is there yet; True if this call created
    it, False if it already existed. Conditional create: S3 ``If-None-Match: *``, GCS
    ``ifGenerationMatch=0``, locally a hard link that refuses an existing name. Meant for small
    objects (manifests, markers): S3 checks the condition on single-PUT uploads."""
    fs, path = filesystem(uri)
    if not is_remote(uri):
        created: bool = faults.call(uri, "creating", _link_local, path, data)
        return created
    attempts = 0

    def create() -> bool:
        nonlocal attempts
        attempts += 1
        try:
            fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            if attempts > 1:
                # A retried PUT whose first reply was lost may have created it itself.
                return bool(fs.cat_file(path) == data)
            return False

    won: bool = faults.call(uri, "creating (if absent)", create)
    return won


def read_versioned(uri: str) -> tuple[bytes, str] | None:
    """``(content, tag)`` of ``uri``, or None if it does not exist. The tag (S3 ETag, GCS
    generation, local inode/mtime/size) identifies the version read, for
    :func:`write_if_unchanged`; if the object changes while being read, the tag is the older
    one, so a conditional write based on it fails rather than overwrite the change."""
    fs, path = filesystem(uri)

    def read() -> tuple[bytes, str] | None:
        try:
            tag = _tag(fs, path, uri)
            return fs.cat_file(path), tag
        except FileNotFoundError:
            _require_bucket(uri, fs, path, "reading")
            return None

    found: tuple[bytes, str] | None = faults.call(uri, "reading", read)
    return found


def write_if_unchanged(uri: str, data: bytes, tag: str | None) -> bool:
    """Replace ``uri`` with ``data`` only if it is still the version ``tag`` from
    :func:`read_versioned` (None: only if it still does not exist). True if written, False if
    another writer changed it first (read again and decide again). S3 ``If-Match``, GCS
    ``ifGenerationMatch``, locally a lock file beside the object."""
    if tag is None:
        return put_if_absent(uri, data)
    fs, path = filesystem(uri)
    proto = protocol(uri)

    def replace() -> bool:
        try:
            if proto == "s3":
                fs.pipe_file(path, data, IfMatch=tag)
            elif proto == "gs":
                _gcs_replace(fs, path, data, tag)
            else:
                return _replace_local(fs, path, data, tag, uri)
            return True
        except (FileExistsError, FileNotFoundError):
            return False
        except OSError as e:
            if faults.aws_error(e)[0] == "PreconditionFailed":
                return False
            raise

    written: bool = faults.call(uri, "writing (if unchanged)", replace)
    return written


def exists(uri: str) -> bool:
    """Whether an object or a directory (prefix) is at ``uri``. A missing bucket is an
    error, not False: it is a misconfiguration."""
    fs, path = filesystem(uri)

    def check() -> bool:
        try:
            fs.info(path)
            return True
        except FileNotFoundError:
            _require_bucket(uri, fs, path, "checking whether it exists")
            return False

    found: bool = faults.call(uri, "checking whether it exists", check)
    return found


def list_dir(uri: str) -> list[str]:
    """Names (not paths) of the entries directly under ``uri``, sorted; [] if there is none
    (object stores have no empty directories). Join them back with :func:`join`."""
    fs, path = filesystem(uri)

    def ls() -> list[str]:
        try:
            entries = fs.ls(path, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            _require_bucket(uri, fs, path, "listing")
            return []
        own = path.rstrip("/")
        return sorted({basename(e) for e in entries if e.rstrip("/") != own})

    names: list[str] = faults.call(uri, "listing", ls)
    return names


def delete(uri: str, recursive: bool = False) -> None:
    """Remove ``uri`` (and everything under it with ``recursive``); missing is not an error."""
    fs, path = filesystem(uri)

    def rm() -> None:
        with contextlib.suppress(FileNotFoundError):
            fs.rm(path, recursive=recursive)

    faults.call(uri, "deleting", rm)


def _tag(fs: Any, path: str, uri: str) -> str:
    info = fs.info(path)
    if not is_remote(uri):
        st = os.stat(path)
        return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"
    return str(info.get("ETag") or info.get("generation") or info.get("etag"))


def _replace_local(fs: Any, path: str, data: bytes, tag: str, uri: str) -> bool:
    with FileLock(path + ".lock"):
        try:
            if _tag(fs, path, uri) != tag:
                return False
        except FileNotFoundError:
            return False
        _write_local(path, data)
        return True


def _gcs_replace(fs: Any, path: str, data: bytes, generation: str) -> None:
    """One media upload with a generation precondition (gcsfs has no overwrite-if-match; a
    failed precondition, HTTP 412, comes back as FileExistsError from gcsfs)."""
    bucket, _, key = path.partition("/")
    fs.call(
        "POST",
        f"{fs._location}/upload/storage/v1/b/{bucket}/o",
        uploadType="media",
        name=key,
        ifGenerationMatch=str(generation),
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    fs.invalidate_cache(path)


def _require_bucket(uri: str, fs: object, path: str, doing: str) -> None:
    """Raise the missing-bucket error if ``path``'s bucket does not exist (checked once per
    process and bucket; only called on a not-found path)."""
    if not is_remote(uri):
        return
    key = (os.getpid(), protocol(uri), bucket_of(path))
    if key in _known_buckets:
        return
    bucket = bucket_of(path)
    try:
        if protocol(uri) == "s3":
            fs.call_s3("head_bucket", Bucket=bucket)  # type: ignore[attr-defined]
        elif not fs.exists(bucket):  # type: ignore[attr-defined]
            raise FileNotFoundError(bucket)
    except FileNotFoundError as e:
        raise faults.missing_bucket(uri, doing) from e
    _known_buckets.add(key)


def _write_local(path: str, data: bytes) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def _link_local(path: str, data: bytes) -> bool:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and refuses an existing name: the local If-None-Match
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    fsync_dir(directory)
    return True


def fsync_dir(path: str) -> None:
    """Make a rename durable: fsync the directory that holds it (POSIX only)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
