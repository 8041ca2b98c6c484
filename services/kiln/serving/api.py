"""The HTTP API as one FastAPI app: the friendly ``/v1`` routes and Open Inference Protocol v2,
around a data plane that holds the served tasks (in this process, when a task deployment is its
own ingress, or behind Serve handles). Errors map to JSON answers with their status here, once.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from kiln.errors import BadRequest, KilnError, NotFound
from kiln.serving.auth import BearerAuth
from kiln.serving.dataplane import DataPlane
from kiln.serving.http import error_response, fault_response
from kiln.serving.v1 import routes as v1_routes
from kiln.serving.v1.fastpath import PredictFastPath
from kiln.serving.v2 import routes as v2_routes


def build_api(plane: DataPlane, auth: BearerAuth, max_body_bytes: int) -> FastAPI:
    app = FastAPI(
        title="Kiln inference API",
        version="1",
        description="Friendly /v1 routes and the Open Inference Protocol v2 (KServe/Triton REST).",
    )
    add_error_handlers(app)
    app.add_middleware(PredictFastPath, plane=plane, auth=auth, max_body_bytes=max_body_bytes)
    v1_routes.add_routes(app, plane, auth, max_body_bytes)
    v2_routes.add_routes(app, plane, auth, max_body_bytes)
    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KilnError)
    async def _kiln_error(_: Request, error: KilnError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(BadRequest(f"invalid request: {error.errors()}"))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        # A bug answers 500 for this request only; the replica keeps serving.
        return fault_response(error)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        kind = NotFound if error.status_code == 404 else BadRequest
        failure = kind(str(error.detail))
        failure.status = error.status_code
        return error_response(failure)
