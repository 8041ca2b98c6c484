"""Storage faults: transient ones are retried with bounded exponential backoff (and logged),
every other one becomes one :class:`StorageError` naming the URI and what was tried."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kiln.errors import KilnError, StorageError
from kiln.storage.filesystems import endpoint
from kiln.storage.uris import is_remote, protocol

log = logging.getLogger("kiln.storage")

MAX_ATTEMPTS = 5
BASE_DELAY_SECONDS = 0.2
MAX_DELAY_SECONDS = 5.0

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestLimitExceeded",
    "InternalError",
    "ServiceUnavailable",
    "ConditionalRequestConflict",  # S3: a concurrent conditional write is in flight
}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "ExpiredToken",
    "InvalidToken",
    "AccessDenied",
    "AllAccessDisabled",
}

T = TypeVar("T")


def call(uri: str, doing: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, retrying transient faults of a remote ``uri``; ``doing`` says
    what was tried ("reading", "listing"...) for the log and the error."""
    remote = is_remote(uri)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return fn(*args, **kwargs)
        except KilnError:
            raise
        except Exception as e:
            if not (remote and is_transient(e)):
                raise translate(uri, doing, e) from e
            if attempt == MAX_ATTEMPTS:
                raise translate(uri, doing, e, attempts=attempt) from e
            delay = min(BASE_DELAY_SECONDS * 2 ** (attempt - 1), MAX_DELAY_SECONDS)
            log.warning(
                "storage: %s %s hit a transient error (%s); retry %d of %d in %.1f s",
                doing,
                uri,
                describe(e),
                attempt,
                MAX_ATTEMPTS - 1,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx, a timeout or a dropped connection: worth trying again."""
    code, status = aws_error(exc)
    if code in _TRANSIENT_CODES or status in _TRANSIENT_STATUS:
        return True
    return _is_connection_fault(exc)


def translate(uri: str, doing: str, exc: BaseException, attempts: int = 1) -> StorageError:
    """One clear error for ``exc`` raised while ``doing`` something to ``uri``."""
    where = endpoint(protocol(uri))
    tried = f" ({attempts} attempts)" if attempts > 1 else ""
    code, status = aws_error(exc)
    if not is_remote(uri) and isinstance(exc, PermissionError):
        return StorageError(f"{uri}: permission denied while {doing}: {exc}", status=403)
    if _is_connection_fault(exc):
        return StorageError(
            f"{uri}: cannot reach the storage endpoint {where} while {doing}{tried}: "
            f"{describe(exc)}; check the endpoint URL and that the store is running"
        )
    if code in _CREDENTIAL_CODES or isinstance(exc, PermissionError) or status in (401, 403):
        reason = f"HTTP {status}" if code.isdigit() or not code else code
        return StorageError(
            f"{uri}: access refused by {where} while {doing} ({reason}); "
            "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web "
            "identity, or Google application default credentials) and the bucket's policy"
        )
    if code == "NoSuchBucket":
        return missing_bucket(uri, doing)
    if isinstance(exc, FileNotFoundError) or code in ("NoSuchKey", "404") or status == 404:
        return StorageError(f"{uri} does not exist (tried {doing} it at {where})", status=404)
    if isinstance(exc, IsADirectoryError):
        return StorageError(f"{uri} is a directory, expected a file (while {doing})", status=400)
    return StorageError(f"{uri}: {doing} failed at {where}{tried}: {describe(exc)}")


def missing_bucket(uri: str, doing: str) -> StorageError:
    bucket = uri.split("://", 1)[-1].split("/", 1)[0]
    return StorageError(
        f"{uri}: the bucket {bucket!r} does not exist at {endpoint(protocol(uri))} "
        f"(while {doing}); create it or fix the URI",
        status=404,
    )


def aws_error(exc: BaseException) -> tuple[str, int | None]:
    """(error code, HTTP status) of the botocore/gcsfs error in ``exc``'s cause chain."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            error = response.get("Error") or {}
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            return str(error.get("Code") or ""), status
        code = getattr(e, "code", None)  # gcsfs HttpError
        if isinstance(code, int) and type(e).__name__ == "HttpError":
            return str(code), code
    return "", None


def describe(exc: BaseException) -> str:
    for e in _chain(exc):
        if getattr(e, "response", None) is not None or _is_connection_fault_here(e):
            return f"{type(e).__name__}: {e}"
    return f"{type(exc).__name__}: {exc}"


def _is_connection_fault(exc: BaseException) -> bool:
    return any(_is_connection_fault_here(e) for e in _chain(exc))


def _is_connection_fault_here(e: BaseException) -> bool:
    if isinstance(e, ConnectionError | TimeoutError):
        return True
    module = type(e).__module__
    if module.startswith("botocore") or module.startswith("aiohttp"):
        names = {c.__name__ for c in type(e).__mro__}
        return bool(
            names & {"ConnectionError", "HTTPClientError", "ClientConnectionError", "ClientOSError"}
        )
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
