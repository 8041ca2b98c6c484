"""The Serve deployments: one per task, plus an ingress when several tasks share the app.

``TaskDeployment`` holds one task's model(s) and answers through methods called over deployment
handles. ``TaskIngress`` is the same thing serving HTTP itself, used when the app serves a single
task: measured here, a deployment that is both ingress and model is about 30 % faster than an
ingress in front of a model (SERVE-PERF.md). ``KilnIngress`` routes HTTP to several task
deployments by path and model name.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from kiln.serving.auth import BearerAuth, load_token
from kiln.serving.config import RuntimeConfig
from kiln.serving.http import build_api
from kiln.serving.metrics import ServingMetrics
from kiln.serving.model import TaskModel
from kiln.serving.reply import Reply

log = logging.getLogger("kiln.serving")
READY_TIMEOUT_S = 5.0


class LocalBackend:
    """Task models living in this replica."""

    def __init__(self, models: dict[str, TaskModel]) -> None:
        self.models = models
        self.names = {model.name: task for task, model in models.items()}

    async def predict_v1(
        self, task: str, body: bytes, content_type: str, accept: str, route_key: str | None
    ) -> Reply:
        return await self.models[task].predict_v1(body, content_type, accept, route_key)

    async def infer_v2(
        self,
        task: str,
        body: bytes,
        header_length: str | None,
        version: int | None,
        route_key: str | None,
    ) -> Reply:
        return await self.models[task].infer_v2(body, header_length, version, route_key)

    async def metadata_v2(self, task: str, version: int | None) -> Reply:
        return self.models[task].metadata_v2(version)

    async def ready(self, task: str) -> bool:
        return self.models[task].ready

    async def describe(self) -> list[dict[str, Any]]:
        return [model.describe() for model in self.models.values()]


class RemoteBackend:
    """Task deployments reached through Serve deployment handles."""

    def __init__(self, handles: dict[str, DeploymentHandle], names: dict[str, str]) -> None:
        self.handles, self.names = handles, names

    async def predict_v1(
        self, task: str, body: bytes, content_type: str, accept: str, route_key: str | None
    ) -> Reply:
        return await self.handles[task].predict_v1.remote(body, content_type, accept, route_key)

    async def infer_v2(
        self,
        task: str,
        body: bytes,
        header_length: str | None,
        version: int | None,
        route_key: str | None,
    ) -> Reply:
        return await self.handles[task].infer_v2.remote(body, header_length, version, route_key)

    async def metadata_v2(self, task: str, version: int | None) -> Reply:
        return await self.handles[task].metadata_v2.remote(version)

    async def ready(self, task: str) -> bool:
        try:
            return await asyncio.wait_for(self.handles[task].ready.remote(), READY_TIMEOUT_S)
        except Exception as e:  # a deployment that cannot answer is simply not ready
            log.info("%s is not ready: %s", task, e)
            return False

    async def describe(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(h.describe.remote() for h in self.handles.values())))


class TaskDeployment:
    def __init__(
        self, registry: str, task: str, name: str, intra_op_threads: int = 1, streams: int = 2
    ) -> None:
        metrics = ServingMetrics(task, name)
        self.model = TaskModel(registry, task, name, intra_op_threads, metrics, streams)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        # Serve calls this after __init__ and on every user_config change, without a restart:
        # batching changes, canary moves, promotion and rollback all arrive here.
        self.model.configure(RuntimeConfig.model_validate(user_config))

    def check_health(self) -> None:
        self.model.check_health()

    async def predict_v1(
        self, body: bytes, content_type: str, accept: str, route_key: str | None
    ) -> Reply:
        return await self.model.predict_v1(body, content_type, accept, route_key)

    async def infer_v2(
        self, body: bytes, header_length: str | None, version: int | None, route_key: str | None
    ) -> Reply:
        return await self.model.infer_v2(body, header_length, version, route_key)

    def metadata_v2(self, version: int | None) -> Reply:
        return self.model.metadata_v2(version)

    def ready(self) -> bool:
        return self.model.ready

    def describe(self) -> dict[str, Any]:
        return self.model.describe()


@serve.ingress()
class TaskIngress(TaskDeployment):
    def __init__(
        self,
        registry: str,
        task: str,
        name: str,
        intra_op_threads: int,
        streams: int,
        auth_token_env: str | None,
        auth_token_file: str | None,
        max_body_bytes: int,
    ) -> None:
        super().__init__(registry, task, name, intra_op_threads, streams)
        self.auth = BearerAuth(load_token(auth_token_env, auth_token_file))
        self.max_body_bytes = max_body_bytes

    def __serve_build_asgi_app__(self) -> FastAPI:
        backend = LocalBackend({self.model.task: self.model})
        return build_api(backend, [self.model.task], self.auth, self.max_body_bytes)


@serve.ingress()
class KilnIngress:
    def __init__(
        self,
        handles: dict[str, DeploymentHandle],
        names: dict[str, str],
        auth_token_env: str | None,
        auth_token_file: str | None,
        max_body_bytes: int,
    ) -> None:
        self.backend = RemoteBackend(handles, names)
        self.tasks = list(handles)
        self.auth = BearerAuth(load_token(auth_token_env, auth_token_file))
        self.max_body_bytes = max_body_bytes

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_api(self.backend, self.tasks, self.auth, self.max_body_bytes)
