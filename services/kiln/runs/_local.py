"""Local-path stand-in for ``kiln.storage`` until it lands (same function names)."""

from __future__ import annotations

import os
from pathlib import Path


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def read_bytes(uri: str) -> bytes:
    return Path(uri).read_bytes()


def write_bytes(uri: str, data: bytes) -> None:
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def exists(uri: str) -> bool:
    return Path(uri).exists()


def list_dir(uri: str) -> list[str]:
    path = Path(uri)
    return sorted(child.name for child in path.iterdir()) if path.is_dir() else []
