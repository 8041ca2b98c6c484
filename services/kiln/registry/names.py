"""Names, references and checksums of registered models (shared by reading and writing)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, Literal

from kiln.config import MODEL_NAME_PATTERN
from kiln.errors import ConfigError, NotFound
from kiln.registry.manifest import Manifest

LATEST: Final = "latest"
NAME_PATTERN = re.compile(MODEL_NAME_PATTERN)


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    onnx_bytes: bytes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_name(name: str) -> str:
    """Return ``name`` if it can be a registry directory name, else raise ConfigError."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"model name {name!r} is not valid: expected 1-63 characters of lowercase letters, "
            "digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | Literal["latest"]]:
    """``NAME`` or ``NAME:VERSION`` or ``NAME:latest`` → (name, version or "latest")."""
    name, _, version = ref.partition(":")
    if not version or version == LATEST:
        return check_name(name), LATEST
    if not version.isdigit() or int(version) < 1:
        raise NotFound(f"version {version!r} of {name!r} is not a positive number or 'latest'")
    return check_name(name), int(version)
