"""The HTTP API as one FastAPI app: the friendly ``/v1`` routes and Open Inference Protocol v2.

The app is built per replica around a ``Backend``: the task models in this process (when a
deployment is its own ingress) or handles to the task deployments (behind an ingress). Errors map
to JSON answers with their status in one place; nothing here reads the environment.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from kiln.errors import BadRequest, KilnError, NotFound, PayloadTooLarge
from kiln.serving import schemas
from kiln.serving.auth import BearerAuth
from kiln.serving.oip import HEADER_LENGTH
from kiln.serving.reply import Reply, error_payload

ROUTE_KEY_HEADER = "X-Kiln-Route-Key"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Error, "description": text}
    for code, text in {
        400: "malformed request",
        401: "missing or wrong bearer token",
        404: "unknown task, model or version",
        413: "body too large",
        415: "unsupported content type",
        422: "well-formed but invalid input",
        503: "model not loaded",
    }.items()
}


class Backend(Protocol):
    names: dict[str, str]  # model name -> task

    async def predict_v1(
        self, task: str, body: bytes, content_type: str, accept: str, route_key: str | None
    ) -> Reply: ...
    async def infer_v2(
        self,
        task: str,
        body: bytes,
        header_length: str | None,
        version: int | None,
        route_key: str | None,
    ) -> Reply: ...
    async def metadata_v2(self, task: str, version: int | None) -> Reply: ...
    async def ready(self, task: str) -> bool: ...
    async def describe(self) -> list[dict[str, Any]]: ...


def to_response(reply: Reply) -> Response:
    return Response(reply.content, reply.status, reply.headers, media_type=reply.media_type)


def error_response(error: KilnError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error_payload(error), error.status, headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes before reading it all when possible."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body has {declared} bytes; at most {limit} are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_version(version: str) -> int:
    if not version.isdigit():
        raise NotFound(f"model version {version!r} is not a number")
    return int(version)


def with_path_params(handler: Callable[..., Awaitable[Response]], versioned: bool) -> Any:
    """``handler(request, name, version)`` as an endpoint declaring exactly its route's path
    parameters, so the OpenAPI document lists ``version`` only where the path has it."""

    async def endpoint(request: Request, name: str, version: str | None = None) -> Response:
        return await handler(request, name, version)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
    ]
    if versioned:
        parameters.append(
            inspect.Parameter("version", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)
        )
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    endpoint.__name__ = f"{handler.__name__}{'_version' if versioned else ''}"
    return endpoint


def build_api(backend: Backend, tasks: list[str], auth: BearerAuth, max_body_bytes: int) -> FastAPI:
    app = FastAPI(
        title="Kiln inference API",
        version="1",
        description="Friendly /v1 routes and the Open Inference Protocol v2 (KServe/Triton REST).",
    )

    @app.exception_handler(KilnError)
    async def _kiln_error(_: Request, error: KilnError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(BadRequest(f"invalid request: {error.errors()}"))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        # A bug answers 500 for this request only; the replica keeps serving.
        return error_response(KilnError(f"internal error: {type(error).__name__}: {error}"))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        kind = NotFound if error.status_code == 404 else BadRequest
        failure = kind(str(error.detail))
        failure.status = error.status_code
        return error_response(failure)

    def task_of(name: str) -> str:
        if name not in backend.names:
            raise NotFound(f"model {name!r} is not served; served: {sorted(backend.names)}")
        return backend.names[name]

    def predict_route(task: str) -> None:
        body_doc = schemas.TIMESERIES_BODY if task == "forecasting" else schemas.IMAGE_BODY
        responses: dict[int | str, dict[str, Any]] = {
            200: {"model": schemas.ANSWERS[task]},
            **ERRORS,
        }
        if task == "segmentation":
            responses[200]["content"] = {"image/png": {}}

        async def predict(request: Request) -> Response:
            auth.check(request.headers.get("authorization"))
            body = await read_body(request, max_body_bytes)
            headers = request.headers
            return to_response(
                await backend.predict_v1(
                    task,
                    body,
                    headers.get("content-type", ""),
                    headers.get("accept", ""),
                    headers.get(ROUTE_KEY_HEADER),
                )
            )

        app.add_api_route(
            f"/v1/{task}/predict",
            predict,
            methods=["POST"],
            name=f"predict_{task}",
            summary=f"Predict ({task})",
            tags=["v1"],
            responses=responses,
            openapi_extra={"requestBody": {"required": True, "content": body_doc}},
        )

    for task in tasks:
        predict_route(task)

    @app.post("/v1/{task}/predict", include_in_schema=False)
    async def unknown_task(task: str) -> Response:
        raise NotFound(f"task {task!r} is not served here; served: {tasks}")

    @app.get("/v1/models", tags=["v1"], response_model=list[schemas.ServedModel], responses=ERRORS)
    async def served_models(request: Request) -> Any:
        auth.check(request.headers.get("authorization"))
        return await backend.describe()

    @app.get("/v2", tags=["v2"])
    async def server_metadata() -> dict[str, Any]:
        return {"name": "kiln", "version": "1", "extensions": ["binary_tensor_data"]}

    @app.get(
        "/v2/health/live",
        tags=["v2"],
        response_model=schemas.Health,
        response_model_exclude_none=True,
    )
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["v2"], response_model=schemas.Health, responses=ERRORS)
    async def ready() -> JSONResponse:
        ok = all([await backend.ready(task) for task in tasks])
        return JSONResponse({"ready": ok}, 200 if ok else 503)

    async def model_ready(request: Request, name: str, version: str | None) -> Response:
        task = task_of(name)
        if version is not None:
            reply = await backend.metadata_v2(task, parse_version(version))
            if not reply.ok:
                return JSONResponse(reply.json(), reply.status)
        ok = await backend.ready(task)
        return JSONResponse({"name": name, "ready": ok}, 200 if ok else 503)

    async def metadata(request: Request, name: str, version: str | None) -> Response:
        auth.check(request.headers.get("authorization"))
        number = parse_version(version) if version is not None else None
        return to_response(await backend.metadata_v2(task_of(name), number))

    async def infer(request: Request, name: str, version: str | None) -> Response:
        auth.check(request.headers.get("authorization"))
        task = task_of(name)
        number = parse_version(version) if version is not None else None
        body = await read_body(request, max_body_bytes)
        headers = request.headers
        return to_response(
            await backend.infer_v2(
                task, body, headers.get(HEADER_LENGTH), number, headers.get(ROUTE_KEY_HEADER)
            )
        )

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        versioned = "{version}" in prefix
        app.add_api_route(
            f"{prefix}/ready",
            with_path_params(model_ready, versioned),
            methods=["GET"],
            tags=["v2"],
            responses=ERRORS,
        )
        app.add_api_route(
            prefix,
            with_path_params(metadata, versioned),
            methods=["GET"],
            tags=["v2"],
            responses={200: {"model": schemas.ModelMetadata}, **ERRORS},
        )
        app.add_api_route(
            f"{prefix}/infer",
            with_path_params(infer, versioned),
            methods=["POST"],
            tags=["v2"],
            responses={200: {"model": schemas.InferResponse}, **ERRORS},
            openapi_extra={"requestBody": {"required": True, "content": schemas.INFER_BODY}},
        )
    return app
