"""Optional bearer-token auth for the inference routes.

The token is read once when a replica starts (a mounted Secret file wins over the environment
variable); requests only compare, in constant time. No token configured means auth is off.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from kiln.errors import ConfigError, Unauthorized


def load_token(env_name: str | None, file_path: str | None) -> str | None:
    if file_path:
        try:
            token = Path(file_path).read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read the auth token file {file_path}: {e}") from e
        if not token:
            raise ConfigError(f"the auth token file {file_path} is empty")
        return token
    if env_name:
        return os.environ.get(env_name) or None
    return None


class BearerAuth:
    """Checks the inference routes and ``GET /v1/models`` always (when a token is set), and the
    metadata routes (``GET /v2``, a model's readiness) only when ``protect_metadata`` is on. The
    health routes stay open for the platform's probes."""

    def __init__(self, token: str | None, protect_metadata: bool = False) -> None:
        self._token = token.encode() if token else None
        self.protect_metadata = protect_metadata

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, authorization: str | None) -> None:
        if self._token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise Unauthorized("this route needs an 'Authorization: Bearer <token>' header")
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise Unauthorized("the bearer token is not valid")

    def check_metadata(self, authorization: str | None) -> None:
        if self.protect_metadata:
            self.check(authorization)
