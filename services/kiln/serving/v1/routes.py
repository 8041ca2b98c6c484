"""The ``/v1`` routes: ``POST /v1/{task}/predict`` for each served task and ``GET /v1/models``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from kiln.errors import NotFound
from kiln.serving.auth import BearerAuth
from kiln.serving.dataplane import DataPlane
from kiln.serving.http import ERRORS, ROUTE_KEY_HEADER, read_body, to_response
from kiln.serving.v1 import types
from kiln.serving.v1.formats import FORMATS


def add_routes(app: FastAPI, plane: DataPlane, auth: BearerAuth, max_body_bytes: int) -> None:
    for task in plane.tasks:
        add_predict_route(app, plane, task, auth, max_body_bytes)
        if FORMATS[task].explainable:
            add_explain_route(app, plane, task, auth, max_body_bytes)
    tasks = plane.tasks
    explained = [task for task in tasks if FORMATS[task].explainable]

    @app.post("/v1/{task}/predict", include_in_schema=False)
    async def unknown_task(task: str) -> Response:
        raise NotFound(f"task {task!r} is not served here; served: {tasks}")

    @app.post("/v1/{task}/explain", include_in_schema=False)
    async def unexplained_task(task: str) -> Response:
        raise NotFound(f"no /v1/{task}/explain here; explained tasks served: {explained}")

    @app.get("/v1/models", tags=["v1"], response_model=list[types.ServedModel], responses=ERRORS)
    async def served_models(request: Request) -> Any:
        auth.check(request.headers.get("authorization"))
        return await plane.describe()


def add_predict_route(
    app: FastAPI, plane: DataPlane, task: str, auth: BearerAuth, max_body_bytes: int
) -> None:
    task_format = FORMATS[task]
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": task_format.answer_model},
        **ERRORS,
    }
    if task_format.answer_media:
        responses[200]["content"] = {kind: {} for kind in task_format.answer_media}
    service = plane.task(task)

    async def predict(request: Request) -> Response:
        predict_request = await read_request(request, auth, max_body_bytes)
        return to_response(await service.predict_v1(predict_request))

    app.add_api_route(
        f"/v1/{task}/predict",
        predict,
        methods=["POST"],
        name=f"predict_{task}",
        summary=f"Predict ({task})",
        tags=["v1"],
        responses=responses,
        openapi_extra={"requestBody": {"required": True, "content": task_format.request_body}},
    )


def add_explain_route(
    app: FastAPI, plane: DataPlane, task: str, auth: BearerAuth, max_body_bytes: int
) -> None:
    """``POST /v1/{task}/explain``: predict's inputs, the answer with its Grad-CAM heatmap
    (``kiln.serving.v1.explain``)."""
    service = plane.task(task)

    async def explain(request: Request) -> Response:
        return to_response(
            await service.explain_v1(await read_request(request, auth, max_body_bytes))
        )

    app.add_api_route(
        f"/v1/{task}/explain",
        explain,
        methods=["POST"],
        name=f"explain_{task}",
        summary=f"Explain a prediction ({task}): Grad-CAM heatmap",
        tags=["v1"],
        responses={200: {"model": types.ExplainAnswer, "content": {"image/png": {}}}, **ERRORS},
        openapi_extra={"requestBody": {"required": True, "content": FORMATS[task].request_body}},
    )


async def read_request(
    request: Request, auth: BearerAuth, max_body_bytes: int
) -> types.PredictRequest:
    """The authorised request's body and headers, as they cross to the task."""
    auth.check(request.headers.get("authorization"))
    body = await read_body(request, max_body_bytes)
    headers = request.headers
    return types.PredictRequest(
        body,
        headers.get("content-type", ""),
        headers.get("accept", ""),
        headers.get(ROUTE_KEY_HEADER),
    )
