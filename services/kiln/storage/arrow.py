"""Ray Train's view of a URI: a ``pyarrow.fs`` filesystem over the same fsspec driver.

A module of its own, outside ``kiln.storage``'s namespace, so that code which only reads and
writes artifacts (the operator, serving) does not need pyarrow installed.
"""

from __future__ import annotations

import os
from typing import Any

from kiln.storage.filesystems import fsspec_for
from kiln.storage.uris import LOCAL_PROTOCOLS, local_path, protocol


def pyarrow_filesystem(uri: str | os.PathLike[str]) -> tuple[Any, str]:
    """``(pyarrow.fs.FileSystem, path)`` for Ray Train's ``RunConfig(storage_filesystem=...,
    storage_path=path)``: the same driver and credential chain as :func:`filesystem`."""
    import pyarrow.fs as pafs

    proto = protocol(str(uri))
    if proto in LOCAL_PROTOCOLS:
        return pafs.LocalFileSystem(), os.path.abspath(local_path(uri))
    fs = fsspec_for(proto, os.getpid(), for_pyarrow=True)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), fs._strip_protocol(str(uri)).rstrip("/")
