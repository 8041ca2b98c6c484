"""A versioned model store: ``REGISTRY/NAME/VERSION/{model.onnx, manifest.json}`` + ``latest``.

One filesystem library (fsspec) reaches a local directory, ``s3://`` or ``gs://`` alike.

Publication rule: a version is visible once ``VERSION/manifest.json`` exists, and the manifest
is always the last thing written, so a reader never sees a manifest without its model.
- On a local filesystem the version directory is written under a ``.staging-*`` name (each
  file fsynced) and appears in one ``os.replace``, so a crash leaves at most an invisible
  staging directory, which later registrations sweep away.
- On an object store (no directory rename), ``model.onnx`` is uploaded first and
  ``manifest.json`` (one atomic PUT) publishes the version.

Version numbers are claimed under a per-name lock. The lock is the one local-only part: a
``filelock`` file beside the versions. Object stores have no such lock, so there a claimed
number is checked again just before publishing and a collision is reported instead of
overwriting. Loading verifies the sha256 and size recorded in the manifest.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
from filelock import FileLock, Timeout
from pydantic import ValidationError

from kiln.errors import ConfigError, IntegrityError, KilnError, NotFound
from kiln.registry.manifest import MANIFEST_FILE, MODEL_FILE, Manifest

LATEST = "latest"
LOCK_TIMEOUT_SECONDS = 60.0
_STAGING = ".staging-"
_STALE_STAGING_SECONDS = 3600.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    onnx_bytes: bytes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_name(name: str) -> str:
    """Return ``name`` if it can be a registry directory name, else raise ConfigError."""
    if not _NAME.match(name):
        raise ConfigError(
            f"model name {name!r} is not valid: expected 1-63 characters of lowercase letters, "
            "digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | str]:
    """``NAME`` or ``NAME:VERSION`` or ``NAME:latest`` → (name, version or "latest")."""
    name, _, version = ref.partition(":")
    if not version or version == LATEST:
        return check_name(name), LATEST
    if not version.isdigit() or int(version) < 1:
        raise NotFound(f"version {version!r} of {name!r} is not a positive number or 'latest'")
    return check_name(name), int(version)


class RegistryStore:
    def __init__(self, uri: str) -> None:
        if not str(uri).strip():
            raise ConfigError("the registry URI is empty; expected a directory, s3:// or gs://")
        self.uri = str(uri).rstrip("/") or "/"
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.uri)
        except (ImportError, ValueError) as e:
            raise ConfigError(
                f"registry {self.uri!r} cannot be opened: {e} (expected a directory, s3:// or gs://)"
            ) from e
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols or "local" in protocols

    # -- reading -------------------------------------------------------------------------

    def names(self) -> builtins.list[str]:
        """Names that hold at least one published version."""
        if not self.fs.exists(self.root):
            return []
        names = (self._basename(p) for p in self.fs.ls(self.root, detail=False))
        return sorted(n for n in names if _NAME.match(n) and self.versions(n))

    def versions(self, name: str) -> builtins.list[int]:
        """Published versions of ``name``, ascending (published = has a manifest)."""
        check_name(name)
        return [
            v for v in self._numbered(name) if self.fs.exists(self._path(name, v, MANIFEST_FILE))
        ]

    def resolve(self, name: str, version: int | str = LATEST) -> int:
        """The concrete version number ``version`` (a number or "latest") stands for."""
        versions = self.versions(name)
        if not versions:
            raise NotFound(f"model {name!r} is not in the registry at {self.uri}")
        if version == LATEST:
            return self._read_latest(name, versions)
        try:
            number = int(version)
        except ValueError as e:
            raise NotFound(f"version {version!r} of {name!r} is not a number or 'latest'") from e
        if number not in versions:
            raise NotFound(
                f"model {name!r} has no version {number}; available: {', '.join(map(str, versions))}"
            )
        return number

    def manifest(self, name: str, version: int | str = LATEST) -> Manifest:
        number = self.resolve(name, version)
        raw = self.fs.cat_file(self._path(name, number, MANIFEST_FILE))
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError as e:
            raise IntegrityError(
                f"manifest of {name}:{number} is corrupted or not a Kiln manifest: {e}"
            ) from e

    def load(self, name: str, version: int | str = LATEST) -> LoadedModel:
        """The manifest and the ONNX bytes, refusing a model whose sha256 or size differs."""
        manifest = self.manifest(name, version)
        path = self._path(name, manifest.version, MODEL_FILE)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError as e:
            raise IntegrityError(f"{manifest.ref}: {MODEL_FILE} is missing at {path}") from e
        digest = sha256_bytes(data)
        if digest != manifest.sha256 or len(data) != manifest.size_bytes:
            raise IntegrityError(
                f"{manifest.ref}: {MODEL_FILE} is corrupted or truncated: sha256 {digest[:12]}… "
                f"({len(data)} bytes), manifest records {manifest.sha256[:12]}… "
                f"({manifest.size_bytes} bytes)"
            )
        return LoadedModel(manifest, data)

    def list(self) -> builtins.list[Manifest]:
        """Every published manifest, by name then version."""
        return [self.manifest(n, v) for n in self.names() for v in self.versions(n)]

    def latest_version(self, name: str) -> int:
        return self.resolve(name, LATEST)

    # -- writing -------------------------------------------------------------------------

    def register(self, manifest: Manifest, onnx_bytes: bytes, make_latest: bool = True) -> Manifest:
        """Publish a new version of ``manifest.name``; returns the manifest as stored."""
        name = check_name(manifest.name)
        if not onnx_bytes:
            raise IntegrityError(f"refusing to register {name!r}: the ONNX model is empty")
        with self._lock(name):
            self._sweep_staging(name)
            version = max(self._numbered(name), default=0) + 1
            stored = manifest.model_copy(
                update={
                    "version": version,
                    "sha256": sha256_bytes(onnx_bytes),
                    "size_bytes": len(onnx_bytes),
                }
            )
            document = stored.model_dump_json(indent=2).encode()
            if self.local:
                self._publish_local(name, version, onnx_bytes, document)
            else:
                self._publish_remote(name, version, onnx_bytes, document)
            if make_latest:
                self._set_latest(name, version)
        return stored

    def promote(self, name: str, version: int | str) -> int:
        """Point ``latest`` at ``version``; every version stays. Returns the version."""
        number = self.resolve(name, version)
        with self._lock(name):
            self._set_latest(name, number)
        return number

    # -- internals -----------------------------------------------------------------------

    def _path(self, name: str, *parts: object) -> str:
        return "/".join([self.root.rstrip("/"), name, *map(str, parts)])

    @staticmethod
    def _basename(path: str) -> str:
        return path.rstrip("/").rsplit("/", 1)[-1]

    def _numbered(self, name: str) -> builtins.list[int]:
        base = self._path(name)
        if not self.fs.exists(base):
            return []
        entries = (self._basename(p) for p in self.fs.ls(base, detail=False))
        return sorted(int(e) for e in entries if e.isdigit())

    def _read_latest(self, name: str, versions: builtins.list[int]) -> int:
        pointer = self._path(name, LATEST)
        if not self.fs.exists(pointer):
            return versions[-1]  # no pointer yet: the newest published version
        text = self.fs.cat_file(pointer).decode(errors="replace").strip()
        if not text.isdigit() or int(text) not in versions:
            raise IntegrityError(
                f"the 'latest' pointer of {name!r} holds {text!r}, expected one of the published "
                f"versions {versions}; fix it with `kiln models promote {name}:VERSION --as latest`"
            )
        return int(text)

    def _publish_local(self, name: str, version: int, model: bytes, document: bytes) -> None:
        staging = self._path(name, f"{_STAGING}{uuid.uuid4().hex}")
        os.makedirs(staging)
        try:
            self._write(f"{staging}/{MODEL_FILE}", model)
            self._write(f"{staging}/{MANIFEST_FILE}", document)
            # os.replace refuses to replace a non-empty directory, so two writers can never
            # merge into one version even if both somehow claimed the same number.
            os.replace(staging, self._path(name, version))
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm(staging, recursive=True)
            raise
        self._fsync_dir(self._path(name))

    def _publish_remote(self, name: str, version: int, model: bytes, document: bytes) -> None:
        final = self._path(name, version)
        if self.fs.exists(final):  # another writer (object stores have no lock) got there first
            raise KilnError(f"version {version} of {name!r} appeared while registering; retry")
        self._write(f"{final}/{MODEL_FILE}", model)
        self._write(f"{final}/{MANIFEST_FILE}", document)  # the manifest publishes the version

    def _sweep_staging(self, name: str) -> None:
        """Remove staging directories that crashed writers left behind (local only: object
        stores have none). Called under the lock; young ones may belong to a live writer."""
        if not self.local or not self.fs.exists(self._path(name)):
            return
        now = time.time()
        for path in self.fs.ls(self._path(name), detail=False):
            if self._basename(path).startswith(_STAGING):
                with contextlib.suppress(OSError):
                    if now - os.path.getmtime(path) > _STALE_STAGING_SECONDS:
                        self.fs.rm(path, recursive=True)

    def _set_latest(self, name: str, version: int) -> None:
        pointer = self._path(name, LATEST)
        if not self.local:
            self._write(pointer, f"{version}\n".encode())  # one PUT replaces an object atomically
            return
        tmp = self._path(name, f".latest-{uuid.uuid4().hex}")
        self._write(tmp, f"{version}\n".encode())
        os.replace(tmp, pointer)
        self._fsync_dir(self._path(name))

    def _write(self, path: str, data: bytes) -> None:
        with self.fs.open(path, "wb") as f:
            f.write(data)
            if self.local:
                f.flush()
                os.fsync(f.fileno())

    def _fsync_dir(self, path: str) -> None:
        """Make a rename durable: fsync the directory that holds it (POSIX only)."""
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        if not self.local:
            yield
            return
        Path(self._path(name)).mkdir(parents=True, exist_ok=True)
        lock_path = self._path(name, ".lock")
        try:
            with FileLock(lock_path, timeout=LOCK_TIMEOUT_SECONDS):
                yield
        except Timeout as e:
            raise KilnError(
                f"could not lock {lock_path} within {LOCK_TIMEOUT_SECONDS:.0f} s: another export "
                "of this model is still registering"
            ) from e


def manifest_json(manifest: Manifest) -> str:
    """The manifest as the indented JSON the store writes."""
    return manifest.model_dump_json(indent=2)
