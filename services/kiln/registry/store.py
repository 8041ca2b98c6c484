"""A versioned model store: ``REGISTRY/NAME/VERSION/{model.onnx, manifest.json}`` + ``latest``.

One filesystem library (fsspec) reaches a local directory, ``s3://`` or ``gs://`` alike.
A version becomes visible only once its directory holds ``manifest.json``, and that directory
appears in one rename from a staging name, so a crash mid-write never leaves a visible,
half-written version. Version numbers are claimed under a lock (a local file lock; on object
stores, where no such lock exists, a claimed number is checked again before publishing).
Loading verifies the sha256 recorded in the manifest.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
from filelock import FileLock
from pydantic import ValidationError

from kiln.errors import IntegrityError, KilnError, NotFound
from kiln.registry.manifest import MANIFEST_FILE, MODEL_FILE, Manifest

LATEST = "latest"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    onnx_bytes: bytes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise KilnError(
            f"model name {name!r} is not valid: use 1-63 lowercase letters, digits, '_', '.' or '-'"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | str]:
    """``NAME`` or ``NAME:VERSION`` or ``NAME:latest`` → (name, version or "latest")."""
    name, _, version = ref.partition(":")
    if not version or version == LATEST:
        return check_name(name), LATEST
    if not version.isdigit():
        raise NotFound(f"version {version!r} of {name!r} is not a number or 'latest'")
    return check_name(name), int(version)


class RegistryStore:
    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.uri)
        self.local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )

    # -- reading -------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        return sorted(
            p.rstrip("/").rsplit("/", 1)[-1]
            for p in self.fs.ls(self.root, detail=False)
            if self.fs.isdir(p) and not p.rstrip("/").rsplit("/", 1)[-1].startswith(".")
        )

    def versions(self, name: str) -> list[int]:
        """Published versions of ``name``, ascending (a version is published once it has a manifest)."""
        return [v for v in self._numbered(name) if self.fs.exists(self._path(name, v, MANIFEST_FILE))]

    def resolve(self, name: str, version: int | str = LATEST) -> int:
        versions = self.versions(check_name(name))
        if not versions:
            raise NotFound(f"model {name!r} is not in the registry at {self.uri}")
        if version == LATEST:
            pointer = self._path(name, LATEST)
            if self.fs.exists(pointer):
                return int(self.fs.cat_file(pointer).decode().strip())
            return versions[-1]
        if int(version) not in versions:
            raise NotFound(
                f"model {name!r} has no version {version}; available: {', '.join(map(str, versions))}"
            )
        return int(version)

    def manifest(self, name: str, version: int | str = LATEST) -> Manifest:
        version = self.resolve(name, version)
        raw = self.fs.cat_file(self._path(name, version, MANIFEST_FILE))
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError as e:
            raise IntegrityError(f"manifest of {name}:{version} is not valid: {e}") from e

    def load(self, name: str, version: int | str = LATEST) -> LoadedModel:
        """The manifest and the ONNX bytes, refusing a model whose sha256 does not match."""
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
                f"({len(data)} bytes), manifest records {manifest.sha256[:12]}… ({manifest.size_bytes} bytes)"
            )
        return LoadedModel(manifest, data)

    def list(self) -> builtins.list[Manifest]:
        return [self.manifest(n, v) for n in self.names() for v in self.versions(n)]

    def latest_version(self, name: str) -> int:
        return self.resolve(name, LATEST)

    # -- writing -------------------------------------------------------------------------

    def register(self, manifest: Manifest, onnx_bytes: bytes, make_latest: bool = True) -> Manifest:
        """Publish a new version of ``manifest.name``; returns the manifest as stored."""
        name = check_name(manifest.name)
        staging = self._path(name, f".staging-{uuid.uuid4().hex}")
        with self._lock(name):
            version = max(self._numbered(name), default=0) + 1
            stored = manifest.model_copy(
                update={"version": version, "sha256": sha256_bytes(onnx_bytes), "size_bytes": len(onnx_bytes)}
            )
            self.fs.makedirs(staging, exist_ok=True)
            self._write(f"{staging}/{MODEL_FILE}", onnx_bytes)
            self._write(f"{staging}/{MANIFEST_FILE}", stored.model_dump_json(indent=2).encode())
            final = self._path(name, version)
            if self.fs.exists(final):  # another writer without our lock got there first
                self.fs.rm(staging, recursive=True)
                raise KilnError(f"version {version} of {name!r} appeared while registering; retry")
            self._rename(staging, final)
            if make_latest:
                self._set_latest(name, version)
        return stored

    def promote(self, name: str, version: int) -> None:
        """Point ``latest`` at ``version``; every version stays."""
        version = self.resolve(name, version)
        with self._lock(name):
            self._set_latest(name, version)

    # -- internals -----------------------------------------------------------------------

    def _path(self, name: str, *parts: object) -> str:
        return "/".join([self.root, name, *map(str, parts)])

    def _numbered(self, name: str) -> builtins.list[int]:
        base = self._path(name)
        if not self.fs.exists(base):
            return []
        entries = (p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(base, detail=False))
        return sorted(int(e) for e in entries if e.isdigit())

    def _set_latest(self, name: str, version: int) -> None:
        tmp = self._path(name, f".latest-{uuid.uuid4().hex}")
        self._write(tmp, f"{version}\n".encode())
        self._rename(tmp, self._path(name, LATEST))

    def _write(self, path: str, data: bytes) -> None:
        with self.fs.open(path, "wb") as f:
            f.write(data)
            if self.local:
                f.flush()
                os.fsync(f.fileno())

    def _rename(self, src: str, dst: str) -> None:
        if self.local:
            os.replace(src, dst)  # atomic on one filesystem; a directory never merges
        else:
            self.fs.mv(src, dst, recursive=True)

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        if not self.local:
            yield
            return
        Path(self._path(name)).mkdir(parents=True, exist_ok=True)
        with FileLock(self._path(name, ".lock"), timeout=60):
            yield


def manifest_json(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(mode="json"), indent=2)
