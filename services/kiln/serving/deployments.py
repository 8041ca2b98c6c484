"""The Serve deployments.

``TaskDeployment`` is a ``ServedTask`` (one task's model(s), answering through the methods of
``kiln.serving.interface.TaskService``, called over deployment handles). ``TaskIngress`` is the
same thing serving HTTP itself, and ``TasksIngress`` hosts several tasks' ``TaskDeployment``
objects in one replica serving HTTP: the default, since a deployment that is both ingress and
model skips a hop and is markedly faster (docs/benchmarks.md). ``KilnIngress`` routes HTTP to
separate task deployments, each reached through a ``RemoteTask`` (``ingress_deployment``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kiln import localray
from kiln.errors import NotReady
from kiln.serving.api import build_api
from kiln.serving.auth import BearerAuth, load_token
from kiln.serving.config import RuntimeConfig, TasksRuntimeConfig
from kiln.serving.dataplane import DataPlane
from kiln.serving.interface import TaskService
from kiln.serving.metrics import ServingMetrics, ShedMetrics
from kiln.serving.reply import Reply, error_payload, overloaded_reply
from kiln.serving.task import ServedTask
from kiln.serving.v1.types import PredictRequest
from kiln.serving.v2.types import InferRequest

log = logging.getLogger("kiln.serving")
# Imported in each replica before it binds its gRPC server: on a Ray `kiln serve` started, bind
# it on loopback (a no-op on a cluster).
localray.replica_grpc_on_loopback()
READY_TIMEOUT_S = 5.0
SHUTDOWN_FLUSH_S = 3.0


class TaskDeployment(ServedTask):
    def __init__(
        self, registry: str, task: str, name: str, intra_op_threads: int = 1, streams: int = 2
    ) -> None:
        metrics = ServingMetrics(task, name)
        super().__init__(registry, task, name, intra_op_threads, streams, metrics)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        # Serve calls this after __init__ and on every user_config change, without a restart:
        # batching changes, canary moves, promotion and rollback all arrive here.
        self.configure(RuntimeConfig.model_validate(user_config))

    def check_health(self) -> None:
        self.model.check_health()

    def __del__(self) -> None:
        # Serve calls this when the replica stops: the request log's last lines are written
        # (within Serve's graceful shutdown timeout), not lost with the process.
        drift = getattr(self, "drift", None)
        if drift is not None:
            drift.flush(timeout_s=SHUTDOWN_FLUSH_S)


class HttpFront:
    """What a deployment that serves HTTP itself holds: the bearer auth and body limit it was
    bound with, and the API it builds over its tasks' data plane."""

    def serve_http(
        self,
        auth_token_env: str | None,
        auth_token_file: str | None,
        max_body_bytes: int,
        auth_protects_metadata: bool,
    ) -> None:
        token = load_token(auth_token_env, auth_token_file)
        self.auth = BearerAuth(token, auth_protects_metadata)
        self.max_body_bytes = max_body_bytes

    def api(self, plane: DataPlane) -> FastAPI:
        return build_api(plane, self.auth, self.max_body_bytes)


@serve.ingress()
class TaskIngress(TaskDeployment, HttpFront):
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
        auth_protects_metadata: bool = False,
    ) -> None:
        super().__init__(registry, task, name, intra_op_threads, streams)
        self.serve_http(auth_token_env, auth_token_file, max_body_bytes, auth_protects_metadata)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return self.api(DataPlane({self.model.task: self}, {self.model.name: self.model.task}))


@serve.ingress()
class TasksIngress(HttpFront):
    """Several tasks in one replica that is also the HTTP ingress. Each task keeps its own model
    versions, canary, batcher and drift window; its settings are its entry in the user_config
    (``TasksRuntimeConfig``)."""

    def __init__(
        self,
        registry: str,
        models: dict[str, str],
        intra_op_threads: int,
        streams: int,
        auth_token_env: str | None,
        auth_token_file: str | None,
        max_body_bytes: int,
        auth_protects_metadata: bool = False,
    ) -> None:
        self.tasks = {
            task: TaskDeployment(registry, task, name, intra_op_threads, streams)
            for task, name in models.items()
        }
        self.serve_http(auth_token_env, auth_token_file, max_body_bytes, auth_protects_metadata)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        tasks = TasksRuntimeConfig.model_validate(user_config).tasks
        config = {str(task): settings for task, settings in tasks.items()}
        missing = set(self.tasks) - set(config)
        if missing:
            raise ValueError(f"user_config.tasks lacks {sorted(missing)}; it needs every task")
        # The tasks' models load side by side: loading and warm-up run mostly outside the GIL.
        with ThreadPoolExecutor(len(self.tasks), thread_name_prefix="kiln-load") as pool:
            done = [pool.submit(t.configure, config[n]) for n, t in self.tasks.items()]
            for future in done:
                future.result()

    def check_health(self) -> None:
        for served in self.tasks.values():
            served.check_health()

    def __serve_build_asgi_app__(self) -> FastAPI:
        names = {served.model.name: task for task, served in self.tasks.items()}
        services: dict[str, TaskService] = dict(self.tasks)
        return self.api(DataPlane(services, names))


class RemoteTask:
    """A task deployment reached through its Serve handle (``TaskService`` over the wire).

    Past the deployment's bounded queue the handle raises ``BackPressureError``: the request is
    shed with a 503 and Retry-After, as Serve's proxy sheds in front of a single-task app."""

    def __init__(
        self, task: str, model: str, handle: DeploymentHandle, retry_after_s: float = 1.0
    ) -> None:
        self.task, self.handle, self.retry_after_s = task, handle, retry_after_s
        self.metrics = ShedMetrics(task, model)

    async def _call(self, method: str, *args: Any) -> Reply:
        try:
            return await getattr(self.handle, method).remote(*args)
        except BackPressureError:
            self.metrics.observe_shed()
            return overloaded_reply(self.task, self.retry_after_s)

    async def predict_v1(self, request: PredictRequest) -> Reply:
        return await self._call("predict_v1", request)

    async def explain_v1(self, request: PredictRequest) -> Reply:
        return await self._call("explain_v1", request)

    async def infer_v2(self, request: InferRequest) -> Reply:
        return await self._call("infer_v2", request)

    async def metadata_v2(self, version: int | None, explain: bool = False) -> Reply:
        return await self._call("metadata_v2", version, explain)

    async def ready(self) -> bool:
        try:
            return await asyncio.wait_for(self.handle.ready.remote(), READY_TIMEOUT_S)
        except Exception as e:  # a deployment that cannot answer is simply not ready
            log.info("%s is not ready: %s", self.task, e)
            return False

    async def describe(self) -> dict[str, Any]:
        return await self.handle.describe.remote()


@serve.ingress()
class KilnIngress(HttpFront):
    def __init__(
        self,
        handles: dict[str, DeploymentHandle],
        names: dict[str, str],
        auth_token_env: str | None,
        auth_token_file: str | None,
        max_body_bytes: int,
        retry_after_s: float = 1.0,
        auth_protects_metadata: bool = False,
    ) -> None:
        models = {task: name for name, task in names.items()}
        tasks: dict[str, TaskService] = {
            t: RemoteTask(t, models[t], h, retry_after_s) for t, h in handles.items()
        }
        self.plane = DataPlane(tasks, names)
        self.serve_http(auth_token_env, auth_token_file, max_body_bytes, auth_protects_metadata)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return self.api(self.plane)


DRAINING = "draining"


class Draining:
    """What answers while ``kiln serve`` drains (``kiln.serving.launch.LocalServer.stop``): the
    application's deployments are replaced by this one, so the route stays and a request that
    arrives meanwhile gets a 503 with Retry-After (retry elsewhere) instead of Serve's 404 for
    a removed route, while the replaced replicas answer the requests they already hold."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after = str(math.ceil(retry_after_s))

    async def __call__(self, request: Request) -> Response:
        error = NotReady("the server is shutting down; retry against another instance")
        payload = {**error_payload(error), "code": DRAINING}
        return JSONResponse(payload, 503, headers={"Retry-After": self.retry_after})


def draining_app(retry_after_s: float) -> Application:
    options = {"name": DRAINING, "num_replicas": 1, "ray_actor_options": {"num_cpus": 0}}
    return serve.deployment(Draining).options(**options).bind(retry_after_s)
