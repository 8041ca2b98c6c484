"""What the routes of both protocols share: the error body and its documentation, reading a
bounded body, turning a Reply into a response, and version path parameters. Nothing here reads
the environment."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from kiln.errors import KilnError, NotFound, PayloadTooLarge
from kiln.serving.reply import REQUEST_ID_HEADER, Reply, error_payload, fault_payload, is_fault

ROUTE_KEY_HEADER = "X-Kiln-Route-Key"


class Error(BaseModel):
    error: str = Field(description="What was wrong and what was expected.")
    code: str = Field(description="A stable machine-readable reason, e.g. invalid_input.")
    status: int
    request_id: str | None = Field(
        default=None,
        description="On a server fault (5xx), the id the failure is logged under.",
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": text}
    for code, text in {
        400: "malformed request",
        401: "missing or wrong bearer token",
        404: "unknown task, model or version",
        413: "body too large",
        415: "unsupported content type",
        422: "well-formed but invalid input",
        500: "server fault (logged under the returned request_id)",
        503: "model not loaded, or overloaded (then with Retry-After)",
    }.items()
}


def to_response(reply: Reply) -> Response:
    return Response(reply.content, reply.status, reply.headers, media_type=reply.media_type)


def error_response(error: KilnError) -> JSONResponse:
    if is_fault(error):
        return fault_response(error)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error_payload(error), error.status, headers)


def fault_response(error: BaseException) -> JSONResponse:
    """A server fault: logged under a request id, which the client gets instead of the text."""
    payload, request_id = fault_payload(error, "kiln.serving.api")
    return JSONResponse(payload, payload["status"], {REQUEST_ID_HEADER: request_id})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes before reading it all when possible."""
    declared = request.headers.get("content-length")
    if declared is not None and is_decimal(declared) and int(declared) > limit:
        raise PayloadTooLarge(f"the body has {declared} bytes; at most {limit} are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and other digits ``int`` refuses."""
    return text.isascii() and text.isdigit()


def parse_version(version: str) -> int:
    if not is_decimal(version) or len(version) > 18:
        raise NotFound(f"model version {version!r} is not a version number (digits 0-9)")
    return int(version)


def with_path_params(
    handler: Callable[..., Awaitable[Response]], versioned: bool, names: list[str]
) -> Any:
    """``handler(request, name, version)`` as an endpoint declaring exactly its route's path
    parameters, so the OpenAPI document lists ``version`` only where the path has it. The
    document names the served models and the version's digits; the handler, not FastAPI,
    refuses anything else (404, as an unknown model or version is)."""

    async def endpoint(request: Request, name: str, version: str | None = None) -> Response:
        return await handler(request, name, version)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    served = Annotated[str, Path(json_schema_extra={"enum": sorted(names)})]
    digits = Annotated[str, Path(json_schema_extra={"pattern": "^[0-9]{1,18}$"})]
    parameters = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("name", keyword, annotation=served),
    ]
    if versioned:
        parameters.append(inspect.Parameter("version", keyword, annotation=digits))
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    endpoint.__name__ = f"{handler.__name__}{'_version' if versioned else ''}"
    return endpoint
