"""URIs as Kiln writes them: a local path, ``file://``, ``s3://`` or ``gs://`` (``gcs://``)."""

from __future__ import annotations

import os

LOCAL_PROTOCOLS = ("file", "local")
_ALIASES = {"gcs": "gs", "s3a": "s3"}


def protocol(uri: str) -> str:
    """``s3``, ``gs``, ``file``... of ``uri``; a path without a scheme is ``file``."""
    scheme, sep, _ = str(uri).partition("://")
    if not sep:
        return "file"
    return _ALIASES.get(scheme.lower(), scheme.lower())


def is_remote(uri: str | os.PathLike[str]) -> bool:
    """True for an object-store URI (``s3://``, ``gs://``), False for a local path or file://."""
    return protocol(str(uri)) not in LOCAL_PROTOCOLS


def join(uri: str | os.PathLike[str], *parts: str) -> str:
    """``uri`` with ``parts`` appended by ``/`` (object stores have no other separator)."""
    text = str(uri)
    head = text.rstrip("/") if text.rstrip("/") else text
    tail = [str(p).strip("/") for p in parts if str(p).strip("/")]
    return "/".join([head, *tail]) if tail else head


def bucket_of(path: str) -> str:
    """The bucket of an object-store path as fsspec returns it (``bucket/key``)."""
    return path.split("/", 1)[0]


def basename(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def local_path(uri: str | os.PathLike[str]) -> str:
    """The filesystem path of a local path or ``file://`` URI."""
    text = str(uri)
    return text[len("file://") :] if text.startswith("file://") else text
