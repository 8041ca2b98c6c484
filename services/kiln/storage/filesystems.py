"""The filesystem objects behind each URI, built once per process and protocol.

Credentials and the endpoint come from the standard chains only, resolved by the drivers
themselves: for S3, botocore's (``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` for
S3-compatible stores such as MinIO, Ceph or R2, ``AWS_PROFILE`` and the shared config files,
web identity, instance metadata); for GCS, Google's application default credentials. Kiln
reads no credential itself, and builds each filesystem once so nothing is re-resolved per
request (the cache is per process: a forked child builds its own, as the drivers need).
"""

from __future__ import annotations

import functools
import os

import fsspec

from kiln.storage.uris import LOCAL_PROTOCOLS, local_path, protocol

# kiln.storage retries transient faults itself (faults.py), so that each retry is logged and
# bounded in one place; the drivers' own retries are switched off for the filesystems it uses.
_S3_NO_RETRY = {"retries": {"max_attempts": 0, "mode": "standard"}}
# Ray Train drives its pyarrow filesystem itself, so that one keeps botocore's standard retry
# mode (bounded exponential backoff with jitter, throttling and 5xx included).
_S3_DRIVER_RETRY = {"retries": {"max_attempts": 5, "mode": "standard"}}
_S3_TIMEOUTS = {"connect_timeout": 10, "read_timeout": 120}


def filesystem(uri: str | os.PathLike[str]) -> tuple[fsspec.AbstractFileSystem, str]:
    """``(filesystem, path)`` for ``uri``: path is what the filesystem's methods take
    (``bucket/key`` on object stores, an absolute path locally)."""
    proto = protocol(str(uri))
    if proto in LOCAL_PROTOCOLS:
        return fsspec_for("file", os.getpid()), os.path.abspath(local_path(uri))
    fs = fsspec_for(proto, os.getpid())
    return fs, fs._strip_protocol(str(uri)).rstrip("/")


def endpoint(proto: str) -> str:
    """Where requests for ``proto`` go, for error messages (read only when reporting one)."""
    if proto == "s3":
        for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            if os.environ.get(var):
                return f"{os.environ[var]} (from {var})"
        return "the AWS S3 endpoint of the configured region"
    if proto == "gs":
        return os.environ.get("STORAGE_EMULATOR_HOST") or "the Google Cloud Storage API"
    return "the local filesystem"


def reset() -> None:
    """Forget the cached filesystems, so the next call re-reads the credential chain and the
    endpoint (tests that change them; a process never needs this)."""
    fsspec_for.cache_clear()


@functools.cache
def fsspec_for(proto: str, pid: int, for_pyarrow: bool = False) -> fsspec.AbstractFileSystem:
    del pid  # part of the cache key only: a forked child must not reuse its parent's loop
    if proto == "s3":
        import s3fs

        retry = _S3_DRIVER_RETRY if for_pyarrow else _S3_NO_RETRY
        fs = s3fs.S3FileSystem(
            config_kwargs={**_S3_TIMEOUTS, **retry},
            # Listings must be fresh: other processes write the same prefixes concurrently.
            use_listings_cache=False,
            skip_instance_cache=True,
        )
        fs.retries = 5 if for_pyarrow else 1  # s3fs's own loop around each call
        return fs
    if proto == "gs":
        import gcsfs

        # gcsfs retries transient GCS errors itself and has no switch to turn that off.
        return gcsfs.GCSFileSystem(use_listings_cache=False, skip_instance_cache=True)
    if proto == "file":
        return fsspec.filesystem("file")
    return fsspec.filesystem(proto, use_listings_cache=False, skip_instance_cache=True)
