"""The OIP v2 routes: server metadata and health, and per model (optionally per version) its
metadata, readiness and inference."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kiln.serving.auth import BearerAuth
from kiln.serving.dataplane import DataPlane
from kiln.serving.http import (
    ERRORS,
    ROUTE_KEY_HEADER,
    parse_version,
    read_body,
    to_response,
    with_path_params,
)
from kiln.serving.v2 import types

PREFIXES = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")


def add_routes(app: FastAPI, plane: DataPlane, auth: BearerAuth, max_body_bytes: int) -> None:
    add_server_routes(app, plane, auth)

    async def model_ready(request: Request, name: str, version: str | None) -> Response:
        auth.check_metadata(request.headers.get("authorization"))
        task = plane.task_of(name)
        if version is not None:
            reply = await plane.task(task).metadata_v2(parse_version(version), plane.explains(name))
            if not reply.ok:
                return JSONResponse(reply.json(), reply.status)
        ok = await plane.task(task).ready()
        return JSONResponse({"name": name, "ready": ok}, 200 if ok else 503)

    async def metadata(request: Request, name: str, version: str | None) -> Response:
        auth.check(request.headers.get("authorization"))
        number = parse_version(version) if version is not None else None
        service = plane.task(plane.task_of(name))
        return to_response(await service.metadata_v2(number, plane.explains(name)))

    async def infer(request: Request, name: str, version: str | None) -> Response:
        auth.check(request.headers.get("authorization"))
        task = plane.task_of(name)
        number = parse_version(version) if version is not None else None
        body = await read_body(request, max_body_bytes)
        headers = request.headers
        infer_request = types.InferRequest(
            body,
            headers.get(types.HEADER_LENGTH),
            number,
            headers.get(ROUTE_KEY_HEADER),
            explain=plane.explains(name),
        )
        return to_response(await plane.task(task).infer_v2(infer_request))

    names = [*plane.names, *plane.explained]
    for prefix in PREFIXES:
        versioned = "{version}" in prefix
        app.add_api_route(
            f"{prefix}/ready",
            with_path_params(model_ready, versioned, names),
            methods=["GET"],
            tags=["v2"],
            responses=ERRORS,
        )
        app.add_api_route(
            prefix,
            with_path_params(metadata, versioned, names),
            methods=["GET"],
            tags=["v2"],
            responses={200: {"model": types.ModelMetadata}, **ERRORS},
        )
        app.add_api_route(
            f"{prefix}/infer",
            with_path_params(infer, versioned, names),
            methods=["POST"],
            tags=["v2"],
            responses={200: {"model": types.InferResponse}, **ERRORS},
            openapi_extra={"requestBody": {"required": True, "content": types.INFER_BODY}},
        )


def add_server_routes(app: FastAPI, plane: DataPlane, auth: BearerAuth) -> None:
    @app.get("/v2", tags=["v2"], responses=ERRORS)
    async def server_metadata(request: Request) -> dict[str, Any]:
        auth.check_metadata(request.headers.get("authorization"))
        return {"name": "kiln", "version": "1", "extensions": ["binary_tensor_data"]}

    @app.get(
        "/v2/health/live",
        tags=["v2"],
        response_model=types.Health,
        response_model_exclude_none=True,
    )
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["v2"], response_model=types.Health, responses=ERRORS)
    async def ready() -> JSONResponse:
        ok = await plane.ready()
        return JSONResponse({"ready": ok}, 200 if ok else 503)
