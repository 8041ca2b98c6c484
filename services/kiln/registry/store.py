"""A versioned model store: ``REGISTRY/NAME/VERSION/{model.onnx, manifest.json}`` + ``latest``.

Every read and write goes through :mod:`kiln.storage`, so a local directory, ``s3://`` (and
S3-compatible endpoints) and ``gs://`` behave alike. How versions are published, claimed and
cleaned up, and how ``latest`` only moves forward, is in :mod:`kiln.registry.publish`; here
are the readers. A version is published once ``VERSION/manifest.json`` exists (always the
last thing written); loading verifies the sha256 and size the manifest records.
"""

from __future__ import annotations

import builtins

from pydantic import ValidationError

from kiln import storage
from kiln.errors import ConfigError, IntegrityError, NotFound, StorageError
from kiln.registry import publish
from kiln.registry.manifest import MANIFEST_FILE, MODEL_FILE, Manifest
from kiln.registry.names import (
    LATEST,
    NAME_PATTERN,
    LoadedModel,
    check_name,
    parse_ref,
    sha256_bytes,
)

__all__ = ["LATEST", "LoadedModel", "RegistryStore", "check_name", "parse_ref", "sha256_bytes"]


class RegistryStore:
    def __init__(self, uri: str) -> None:
        if not str(uri).strip():
            raise ConfigError("the registry URI is empty; expected a directory, s3:// or gs://")
        self.uri = str(uri).rstrip("/") or "/"
        try:
            self.fs, self.root = storage.filesystem(self.uri)
        except (ImportError, ValueError) as e:
            raise ConfigError(
                f"registry {self.uri!r} cannot be opened: {e} (expected a directory, s3:// or gs://)"
            ) from e
        self.local = not storage.is_remote(self.uri)

    # -- reading -------------------------------------------------------------------------

    def names(self) -> builtins.list[str]:
        """Names that hold at least one published version."""
        names = storage.list_dir(self.uri)
        return sorted(n for n in names if NAME_PATTERN.match(n) and self.versions(n))

    def versions(self, name: str) -> builtins.list[int]:
        """Published versions of ``name``, ascending (published = has a manifest)."""
        check_name(name)
        return [v for v in self.numbered(name) if storage.exists(self.at(name, v, MANIFEST_FILE))]

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
        raw = storage.read_bytes(self.at(name, number, MANIFEST_FILE))
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError as e:
            raise IntegrityError(
                f"manifest of {name}:{number} is corrupted or not a Kiln manifest: {e}"
            ) from e

    def load(self, name: str, version: int | str = LATEST) -> LoadedModel:
        """The manifest and the ONNX bytes, refusing a model whose sha256 or size differs."""
        manifest = self.manifest(name, version)
        data = self._read_checked(manifest, MODEL_FILE, manifest.sha256, manifest.size_bytes)
        return LoadedModel(manifest, data)

    def load_explain(self, manifest: Manifest) -> bytes | None:
        """The version's Grad-CAM graph (None if it has none), checked against its manifest."""
        graph = manifest.explain
        if graph is None:
            return None
        return self._read_checked(manifest, graph.file, graph.sha256, graph.size_bytes)

    def _read_checked(self, manifest: Manifest, file: str, sha256: str, size: int) -> bytes:
        """One file of the version, refused if missing or if its sha256 or size differs."""
        uri = self.at(manifest.name, manifest.version, file)
        try:
            data = storage.read_bytes(uri)
        except StorageError as e:
            if e.status != 404:
                raise
            raise IntegrityError(f"{manifest.ref}: {file} is missing at {uri}") from e
        digest = sha256_bytes(data)
        if digest != sha256 or len(data) != size:
            raise IntegrityError(
                f"{manifest.ref}: {file} is corrupted or truncated: sha256 {digest[:12]}… "
                f"({len(data)} bytes), manifest records {sha256[:12]}… ({size} bytes)"
            )
        return data

    def list(self) -> builtins.list[Manifest]:
        """Every published manifest, by name then version."""
        return [self.manifest(n, v) for n in self.names() for v in self.versions(n)]

    def latest_version(self, name: str) -> int:
        return self.resolve(name, LATEST)

    # -- writing (kiln.registry.publish) --------------------------------------------------

    def register(
        self,
        manifest: Manifest,
        onnx_bytes: bytes,
        make_latest: bool = True,
        extras: dict[str, bytes] | None = None,
    ) -> Manifest:
        """Publish a new version of ``manifest.name`` (``extras``: more files of the version,
        named by the manifest); returns the manifest as stored."""
        return publish.register(self, manifest, onnx_bytes, make_latest, extras)

    def promote(self, name: str, version: int | str) -> int:
        """Point ``latest`` at ``version`` (also backwards: a deliberate rollback); every
        version stays. Returns the version."""
        number = self.resolve(name, version)
        publish.set_latest(self, name, number)
        return number

    # -- paths ---------------------------------------------------------------------------

    def at(self, name: str, *parts: object) -> str:
        """The URI of ``NAME/parts...`` in this registry."""
        return storage.join(self.uri, name, *map(str, parts))

    def _path(self, name: str, *parts: object) -> str:
        """The filesystem path (as ``self.fs`` takes it) of ``NAME/parts...``."""
        return "/".join([self.root.rstrip("/"), name, *map(str, parts)])

    def numbered(self, name: str) -> builtins.list[int]:
        """Version numbers that exist in any state (published, being written, abandoned)."""
        return sorted(int(e) for e in storage.list_dir(self.at(name)) if e.isdigit())

    def _write(self, path: str, data: bytes) -> None:
        """Write one file of a version (a seam the crash tests hook into)."""
        publish.write_file(self, path, data)

    def _read_latest(self, name: str, versions: builtins.list[int]) -> int:
        pointer = storage.read_versioned(self.at(name, LATEST))
        if pointer is None:
            return versions[-1]  # no pointer yet: the newest published version
        text = pointer[0].decode(errors="replace").strip()
        if not text.isdigit() or int(text) not in versions:
            raise IntegrityError(
                f"the 'latest' pointer of {name!r} holds {text!r}, expected one of the published "
                f"versions {versions}; fix it with `kiln models promote {name}:VERSION --as latest`"
            )
        return int(text)
