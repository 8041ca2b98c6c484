"""One small error taxonomy. Every Kiln error carries the HTTP status it maps to.

Serving turns these into JSON error responses once, in one handler; the CLI prints their
message and exits non-zero. Raise them with ``raise ... from e`` so the cause survives.
"""

from __future__ import annotations


class KilnError(Exception):
    """Base of every error Kiln raises on purpose."""

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(KilnError):
    """A configuration (CLI flags, YAML file, CR spec) is invalid."""

    status = 400
    code = "invalid_config"


class DataError(KilnError):
    """Data on disk is not in the expected layout or holds values that cannot be used."""

    status = 422
    code = "invalid_data"


class BadRequest(KilnError):
    """A request is malformed (cannot be parsed)."""

    status = 400
    code = "bad_request"


class InvalidInput(KilnError):
    """A request is well-formed but its content is not what the model accepts."""

    status = 422
    code = "invalid_input"


class NotFound(KilnError):
    """An unknown model, version, run or route."""

    status = 404
    code = "not_found"


class PayloadTooLarge(KilnError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(KilnError):
    status = 415
    code = "unsupported_media_type"


class Unauthorized(KilnError):
    status = 401
    code = "unauthorized"


class NotReady(KilnError):
    """The model is not loaded (yet), or the replica cannot serve."""

    status = 503
    code = "not_ready"


class InferenceFailed(KilnError):
    """The model failed to run on an input that passed every check: a fault of the model, the
    runtime or the machine, never of the request."""

    status = 500
    code = "inference_failed"


class Overloaded(KilnError):
    """More requests are waiting than the server queues: retry after a while."""

    status = 503
    code = "overloaded"


class IntegrityError(KilnError):
    """A stored artifact does not match its recorded checksum: it is corrupted or truncated."""

    status = 500
    code = "integrity"


class StorageError(KilnError):
    """An object store or filesystem could not do what was asked (kiln.storage raises it after
    retrying transient faults). 502: the store behind Kiln failed or refused; 404 when the
    object or bucket asked for does not exist."""

    status = 502
    code = "storage"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class ParityError(KilnError):
    """The exported ONNX model does not reproduce the Keras model within tolerance."""

    status = 422
    code = "parity"
