"""Publishing registry versions safely, on a local directory and on object stores.

Visibility: a version exists for readers once ``VERSION/manifest.json`` exists, and the
manifest is always written last, so a reader never sees a manifest without its model.

Local directory: versions are numbered under a per-name ``filelock``; the version directory is
written under a ``.staging-*`` name (each file fsynced) and appears in one ``os.replace``, so a
crash leaves at most an invisible staging directory, which later registrations sweep away.

Object stores (no rename, no lock): a writer claims a version number by creating
``VERSION/claim.json`` with a conditional create (S3 ``If-None-Match: *``, GCS
``ifGenerationMatch=0``); if another writer holds that number, it tries the next one. Only the
claimant writes into ``VERSION/``: ``model.onnx``, then ``manifest.json`` (also a conditional
create). The claim stays after publication, so a number is never claimed twice. A writer that
fails removes its version; claims abandoned by crashed writers (no manifest after an hour) are
swept by later registrations.

``latest`` moves only forward on registration: a read-compare-write with a conditional write
(S3 ``If-Match``, GCS generation match, a lock file locally), retried until it either
points at a version at least as new as the one just published or has been moved to it. So two
interleaved registrations cannot leave ``latest`` on the older one. ``promote`` sets it
outright: rolling back is a deliberate act.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from kiln import storage
from kiln.errors import IntegrityError, KilnError, StorageError
from kiln.registry.manifest import MANIFEST_FILE, MODEL_FILE, Manifest
from kiln.registry.names import LATEST, check_name, sha256_bytes
from kiln.storage.objects import fsync_dir

if TYPE_CHECKING:
    from kiln.registry.store import RegistryStore

CLAIM_FILE = "claim.json"
LOCK_TIMEOUT_SECONDS = 60.0
STALE_SECONDS = 3600.0
_STAGING = ".staging-"
_MAX_CLAIM_TRIES = 1000


def register(
    store: RegistryStore,
    manifest: Manifest,
    onnx_bytes: bytes,
    make_latest: bool,
    extras: dict[str, bytes] | None = None,
) -> Manifest:
    """Publish ``onnx_bytes`` and ``extras`` (more files of the version, such as the Grad-CAM
    graph the manifest records) under a new version; the manifest is written last."""
    name = check_name(manifest.name)
    if not onnx_bytes:
        raise IntegrityError(f"refusing to register {name!r}: the ONNX model is empty")
    update = {"sha256": sha256_bytes(onnx_bytes), "size_bytes": len(onnx_bytes)}
    files = {MODEL_FILE: onnx_bytes, **(extras or {})}
    if store.local:
        with _lock(store, name):
            _sweep_local(store, name)
            version = max(store.numbered(name), default=0) + 1
            stored = manifest.model_copy(update={**update, "version": version})
            _publish_local(store, name, version, files, _document(stored))
    else:
        _sweep_remote(store, name)
        version, token = _claim(store, name)
        stored = manifest.model_copy(update={**update, "version": version})
        _publish_remote(store, name, version, token, files, _document(stored))
    if make_latest:
        advance_latest(store, name, version)
    return stored


def advance_latest(store: RegistryStore, name: str, version: int) -> None:
    """Point ``latest`` at ``version`` unless it already points at a newer one."""
    pointer = store.at(name, LATEST)
    for _ in range(_MAX_CLAIM_TRIES):
        current = storage.read_versioned(pointer)
        if current is not None:
            text = current[0].decode(errors="replace").strip()
            if text.isdigit() and int(text) >= version:
                return
        if storage.write_if_unchanged(pointer, f"{version}\n".encode(), current and current[1]):
            return
    raise StorageError(f"{pointer}: could not move 'latest' to {version}: it kept changing")


def set_latest(store: RegistryStore, name: str, version: int) -> None:
    """Point ``latest`` at ``version`` unconditionally (an explicit promotion)."""
    storage.write_bytes(store.at(name, LATEST), f"{version}\n".encode())


def write_file(store: RegistryStore, target: str, data: bytes) -> None:
    """One file of a version: a fsynced local file, or one atomic upload."""
    if not store.local:
        storage.write_bytes(target, data)
        return
    with open(target, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _document(manifest: Manifest) -> bytes:
    return manifest.model_dump_json(indent=2).encode()


# -- object stores -------------------------------------------------------------------------


def _claim(store: RegistryStore, name: str) -> tuple[int, bytes]:
    """Claim the lowest free version number above every existing one; (version, token)."""
    token = json.dumps(
        {"writer": uuid.uuid4().hex, "host": os.uname().nodename, "claimed_at": time.time()}
    ).encode()
    version = max(store.numbered(name), default=0) + 1
    for _ in range(_MAX_CLAIM_TRIES):
        if storage.put_if_absent(store.at(name, version, CLAIM_FILE), token):
            return version, token
        version += 1  # another writer holds it: try the next number
    raise KilnError(f"could not claim a version of {name!r} in {store.uri} after many tries")


def _publish_remote(
    store: RegistryStore,
    name: str,
    version: int,
    token: bytes,
    files: dict[str, bytes],
    document: bytes,
) -> None:
    try:
        for file, data in files.items():
            store._write(store.at(name, version, file), data)
        if storage.read_bytes(store.at(name, version, CLAIM_FILE)) != token:
            raise KilnError(f"the claim on {name}:{version} was swept while writing; retry")
        if not storage.put_if_absent(store.at(name, version, MANIFEST_FILE), document):
            raise KilnError(f"{name}:{version} was published by another writer; retry")
    except BaseException:
        with contextlib.suppress(Exception):
            if not storage.exists(store.at(name, version, MANIFEST_FILE)):
                storage.delete(store.at(name, version), recursive=True)
        raise


def _sweep_remote(store: RegistryStore, name: str) -> None:
    """Remove versions whose claim is older than STALE_SECONDS and that have no manifest:
    their writer died. Younger ones may belong to a writer still uploading."""
    published = set(store.versions(name))
    for version in set(store.numbered(name)) - published:
        claim = storage.read_versioned(store.at(name, version, CLAIM_FILE))
        try:
            claimed_at = float(json.loads(claim[0])["claimed_at"]) if claim else 0.0
        except (ValueError, KeyError, TypeError):
            claimed_at = 0.0
        if time.time() - claimed_at > STALE_SECONDS:
            storage.delete(store.at(name, version), recursive=True)


# -- local directories ---------------------------------------------------------------------


def _publish_local(
    store: RegistryStore, name: str, version: int, files: dict[str, bytes], document: bytes
) -> None:
    staging = store._path(name, f"{_STAGING}{uuid.uuid4().hex}")
    os.makedirs(staging)
    try:
        for file, data in files.items():
            store._write(f"{staging}/{file}", data)
        store._write(f"{staging}/{MANIFEST_FILE}", document)
        # os.replace refuses to replace a non-empty directory, so two writers can never
        # merge into one version even if both somehow claimed the same number.
        os.replace(staging, store._path(name, version))
    except BaseException:
        with contextlib.suppress(OSError):
            store.fs.rm(staging, recursive=True)
        raise
    fsync_dir(store._path(name))


def _sweep_local(store: RegistryStore, name: str) -> None:
    """Remove staging directories that crashed writers left behind. Called under the lock;
    young ones may belong to a live writer."""
    base = Path(store._path(name))
    if not base.is_dir():
        return
    now = time.time()
    for path in base.glob(f"{_STAGING}*"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > STALE_SECONDS:
                store.fs.rm(str(path), recursive=True)


@contextlib.contextmanager
def _lock(store: RegistryStore, name: str) -> Iterator[None]:
    Path(store._path(name)).mkdir(parents=True, exist_ok=True)
    lock_path = store._path(name, ".lock")
    try:
        with FileLock(lock_path, timeout=LOCK_TIMEOUT_SECONDS):
            yield
    except Timeout as e:
        raise KilnError(
            f"could not lock {lock_path} within {LOCK_TIMEOUT_SECONDS:.0f} s: another export "
            "of this model is still registering"
        ) from e
