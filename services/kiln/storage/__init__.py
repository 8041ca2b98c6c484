"""One storage layer for every Kiln artifact: local paths, ``file://``, ``s3://``, ``gs://``.

Built on fsspec (s3fs, gcsfs) rather than ``pyarrow.fs``: the registry and the loaders already
speak fsspec; s3fs exposes S3's conditional create (``If-None-Match: *``) and gcsfs GCS's
generation precondition, which the race-free registry needs and ``pyarrow.fs`` does not
offer; and both drivers take credentials and endpoints from the standard chains. Ray Train,
which wants a ``pyarrow.fs.FileSystem``, gets the same driver wrapped by
``pyarrow.fs.PyFileSystem(FSSpecHandler(...))`` from ``kiln.storage.arrow.pyarrow_filesystem``
(a separate module: pyarrow is needed only where Ray Train runs).

Guarantees: a written object is never partially visible; :func:`put_if_absent` creates at
most once across any number of concurrent writers; transient faults (throttling, 5xx,
timeouts, dropped connections) are retried with bounded exponential backoff and logged on
the ``kiln.storage`` logger; anything else, or a fault that outlasts the retries, raises one
:class:`~kiln.errors.StorageError` naming the URI, the endpoint and what was tried.
This package imports neither TensorFlow nor Ray.
"""

from kiln.errors import StorageError
from kiln.storage.filesystems import filesystem, reset
from kiln.storage.objects import (
    delete,
    exists,
    list_dir,
    put_if_absent,
    read_bytes,
    read_versioned,
    write_bytes,
    write_if_unchanged,
)
from kiln.storage.staging import default_cache_dir, stage
from kiln.storage.trees import download_dir, upload_dir
from kiln.storage.uris import is_remote, join

__all__ = [
    "StorageError",
    "default_cache_dir",
    "delete",
    "download_dir",
    "exists",
    "filesystem",
    "is_remote",
    "join",
    "list_dir",
    "put_if_absent",
    "read_bytes",
    "read_versioned",
    "reset",
    "stage",
    "upload_dir",
    "write_bytes",
    "write_if_unchanged",
]
