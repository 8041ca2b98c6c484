"""A transport-neutral answer (status, body, media type, headers).

Task deployments return a Reply rather than raising, so a client's mistake crosses a Ray
deployment handle as plain data (never as a wrapped remote exception) and the HTTP layer turns it
into a response in one place.

A server fault (any 5xx but "not ready") is logged with a fresh request id, and the client gets
that id and a fixed message: what went wrong inside (exception text, paths, the runtime's
messages) stays in the log.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import KilnError, Overloaded

JSON = "application/json"
REQUEST_ID_HEADER = "X-Request-Id"
log = logging.getLogger("kiln.serving")


@dataclass
class Reply:
    status: int
    content: bytes
    media_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> Any:
        return json.loads(self.content)


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return Reply(status, body, JSON, dict(headers or {}))


def is_fault(error: KilnError) -> bool:
    """A server fault whose message must not reach the client (503 "not ready" is ours to say)."""
    return error.status >= 500 and error.status != 503


def error_payload(error: KilnError, request_id: str | None = None) -> dict[str, Any]:
    # "error" holds the message, the field the Open Inference Protocol (and tritonclient) reads.
    payload: dict[str, Any] = {"error": error.message, "code": error.code, "status": error.status}
    if request_id is not None:
        payload["request_id"] = request_id
    return payload


def fault_payload(error: BaseException, where: str) -> tuple[dict[str, Any], str]:
    """Log a server fault under a new request id; the payload the client gets instead."""
    request_id = uuid.uuid4().hex
    log.error("%s: request %s failed", where, request_id, exc_info=error)
    status = error.status if isinstance(error, KilnError) else 500
    code = error.code if isinstance(error, KilnError) else "internal"
    message = f"the server failed to answer this request; it is logged as request {request_id}"
    return {"error": message, "code": code, "status": status, "request_id": request_id}, request_id


def error_reply(error: KilnError, where: str = "kiln.serving") -> Reply:
    if is_fault(error):
        payload, request_id = fault_payload(error, where)
        return json_reply(payload, error.status, {REQUEST_ID_HEADER: request_id})
    return json_reply(error_payload(error), error.status)


def overloaded_reply(task: str, retry_after_s: float) -> Reply:
    """A 503 with Retry-After for a request shed because too many wait already."""
    error = Overloaded(f"the {task} model has more requests waiting than it queues; retry later")
    return json_reply(error_payload(error), 503, {"Retry-After": str(math.ceil(retry_after_s))})


def fault_reply(error: BaseException, where: str) -> Reply:
    """A 500 for an exception nobody expected: a bug costs one request, never the replica."""
    payload, request_id = fault_payload(error, where)
    return json_reply(payload, 500, {REQUEST_ID_HEADER: request_id})
