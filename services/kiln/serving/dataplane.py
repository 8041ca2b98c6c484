"""The data plane: which task answers a request. The routes of both protocols ask it for a task
by path (``/v1/{task}``) or by model name (``/v2/models/{name}``); it holds one
``TaskService`` per task, local or remote, and never looks inside a request."""

from __future__ import annotations

import asyncio
from typing import Any

from kiln.errors import NotFound
from kiln.serving.interface import TaskService
from kiln.serving.v2.types import EXPLAIN_SUFFIX
from kiln.tasks import SPECS


class DataPlane:
    def __init__(self, services: dict[str, TaskService], names: dict[str, str]) -> None:
        self.services = services
        self.names = names  # model name -> task
        # A model whose task answers a label is also served as NAME-explain (its Grad-CAM).
        self.explained = {
            name + EXPLAIN_SUFFIX: task
            for name, task in names.items()
            if SPECS[task].answer == "label"
        }

    @property
    def tasks(self) -> list[str]:
        return list(self.services)

    def task(self, task: str) -> TaskService:
        return self.services[task]

    def task_of(self, name: str) -> str:
        """The task serving model ``name`` (or ``NAME-explain``); NotFound for any other."""
        known = {**self.names, **self.explained}
        if name not in known:
            raise NotFound(f"model {name!r} is not served; served: {sorted(known)}")
        return known[name]

    def explains(self, name: str) -> bool:
        return name in self.explained

    async def ready(self) -> bool:
        return all([await service.ready() for service in self.services.values()])

    async def describe(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(s.describe() for s in self.services.values())))
