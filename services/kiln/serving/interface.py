"""The interface between the HTTP routes and one task, stated once.

A task answers in this replica (``kiln.serving.task.ServedTask``, which a task deployment is) or
in a task deployment reached through a Serve handle (``kiln.serving.deployments.RemoteTask``).
Every method returns a Reply or plain data, never raises for a request: a client's mistake
crosses a deployment handle as data, not as a wrapped remote exception.
"""

from __future__ import annotations

from typing import Any, Protocol

from kiln.serving.reply import Reply
from kiln.serving.v1.types import PredictRequest
from kiln.serving.v2.types import InferRequest


class TaskService(Protocol):
    async def predict_v1(self, request: PredictRequest) -> Reply: ...

    async def explain_v1(self, request: PredictRequest) -> Reply: ...

    async def infer_v2(self, request: InferRequest) -> Reply: ...

    async def metadata_v2(self, version: int | None, explain: bool = False) -> Reply: ...

    async def ready(self) -> bool: ...

    async def describe(self) -> dict[str, Any]: ...
