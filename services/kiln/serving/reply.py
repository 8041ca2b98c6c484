"""A transport-neutral answer (status, body, media type, headers).

Task deployments return a Reply rather than raising, so a client's mistake crosses a Ray
deployment handle as plain data (never as a wrapped remote exception) and the HTTP layer turns it
into a response in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import KilnError

JSON = "application/json"


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


def error_payload(error: KilnError) -> dict[str, Any]:
    # "error" holds the message, the field the Open Inference Protocol (and tritonclient) reads.
    return {"error": error.message, "code": error.code, "status": error.status}


def error_reply(error: KilnError, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(error_payload(error), error.status, headers)
