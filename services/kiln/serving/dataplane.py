"""The data plane: which task answers a request. The routes of both protocols ask it for a task
by path (``/v1/{task}``) or by model name (``/v2/models/{name}``); it holds one
``TaskService`` per task, local or remote, and never looks inside a request."""

from __future__ import annotations

import asyncio
from typing import Any

from kiln.errors import NotFound
from kiln.serving.interface import TaskService


class DataPlane:
    def __init__(self, services: dict[str, TaskService], names: dict[str, str]) -> None:
        self.services = services
        self.names = names  # model name -> task

    @property
    def tasks(self) -> list[str]:
        return list(self.services)

    def task(self, task: str) -> TaskService:
        return self.services[task]

    def task_of(self, name: str) -> str:
        if name not in self.names:
            raise NotFound(f"model {name!r} is not served; served: {sorted(self.names)}")
        return self.names[name]

    async def ready(self) -> bool:
        return all([await service.ready() for service in self.services.values()])

    async def describe(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(s.describe() for s in self.services.values())))
