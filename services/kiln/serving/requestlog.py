"""The sampled request log: JSON lines of served requests, written in rotated parts.

Each line is one request: time, request id, task, model, version, and per instance an input
summary (``kiln.drift.summary``; the raw model input too only when ``raw`` is set) and the
answer's summary. Lines gather in memory and are written as one part when the part reaches
``max_bytes`` or its first line is ``max_age_s`` old, to
``URI/<model>/<YYYYmmddTHHMMSS>-<replica>-<n>.jsonl``: each part is written whole
(``kiln.storage.write_bytes``), so a reader never sees half a part, on a local disk as on an
object store that cannot append. Called only from the drift thread, never on the request path.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from kiln import storage
from kiln.errors import KilnError
from kiln.serving.config import RequestLogSettings

log = logging.getLogger("kiln.serving")
PART_SUFFIX = ".jsonl"


class RequestLog:
    def __init__(self, settings: RequestLogSettings, model: str, replica: str = "") -> None:
        if not settings.uri:
            raise ValueError("a request log needs a uri")
        self.settings, self.model = settings, model
        self.replica = replica or uuid.uuid4().hex[:8]
        self._lines: list[bytes] = []
        self._bytes = 0
        self._started: float | None = None
        self._parts = 0

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        if self._started is None:
            self._started = time.monotonic()
        self._lines.append(line)
        self._bytes += len(line)
        if self._bytes >= self.settings.max_bytes:
            self.flush()

    def tick(self) -> None:
        """Write the part if its oldest line has waited ``max_age_s``."""
        if (
            self._started is not None
            and time.monotonic() - self._started >= self.settings.max_age_s
        ):
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        data, self._lines, self._bytes, self._started = b"".join(self._lines), [], 0, None
        self._parts += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{self.replica}-{self._parts:06d}{PART_SUFFIX}"
        uri = storage.join(str(self.settings.uri), self.model, name)
        try:
            storage.write_bytes(uri, data)
        except (KilnError, OSError) as e:  # a full disk or a gone bucket must not stop serving
            log.warning("request log: could not write %s (%d bytes dropped): %s", uri, len(data), e)
