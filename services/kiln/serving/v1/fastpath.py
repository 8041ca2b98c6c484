"""``POST /v1/{task}/predict`` answered as soon as the request reaches the app, ahead of
FastAPI's routing, exception middleware and endpoint wrapping, which cost the replica's event
loop more per request than the rest of Kiln's request path (docs/benchmarks.md, "Where a served
request's time goes"). It does exactly what the route does (``kiln.serving.v1.routes``): the
same bearer check, body limit, task call and error answers. The route stays declared, so the
OpenAPI document and every other path are FastAPI's as before."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kiln.errors import KilnError
from kiln.serving.auth import BearerAuth
from kiln.serving.dataplane import DataPlane
from kiln.serving.http import error_response, fault_response, to_response
from kiln.serving.v1.routes import read_request


class PredictFastPath:
    """A pure ASGI middleware (``app.add_middleware``), inside Starlette's server-error guard."""

    def __init__(
        self, app: ASGIApp, plane: DataPlane, auth: BearerAuth, max_body_bytes: int
    ) -> None:
        self.app, self.auth, self.max_body_bytes = app, auth, max_body_bytes
        self.services = {f"/v1/{task}/predict": plane.task(task) for task in plane.tasks}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = None
        if scope["type"] == "http" and scope["method"] == "POST":
            path, root = scope["path"], scope.get("root_path", "")
            service = self.services.get(path[len(root) :] if path.startswith(root) else path)
        if service is None:
            await self.app(scope, receive, send)
            return
        try:
            request = await read_request(Request(scope, receive), self.auth, self.max_body_bytes)
            response = to_response(await service.predict_v1(request))
        except KilnError as e:
            response = error_response(e)
        except Exception as e:  # a bug answers 500 for this request only, as the route's does
            response = fault_response(e)
        await response(scope, receive, send)
