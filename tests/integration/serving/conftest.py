"""Serve on the session's local Ray, deployed the way a RayService deploys it: a Serve config
naming ``kiln.serving.app:build_app`` with args, applied to the Serve controller.

Each test module starts Serve once (on its own free port) and shuts it down at the end, so
training tests find their CPUs free afterwards.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

_path = Path(__file__).parents[2] / "unit" / "serving" / "tiny_models.py"
_spec = importlib.util.spec_from_file_location("tiny_models", _path)
assert _spec and _spec.loader
tiny_models = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("tiny_models", tiny_models)
_spec.loader.exec_module(tiny_models)

APP = "kiln"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_config(args: dict[str, Any], deployments: list[dict[str, Any]] | None = None):
    from ray.serve.schema import ServeDeploySchema

    app: dict[str, Any] = {
        "name": APP,
        "route_prefix": "/",
        "import_path": "kiln.serving.app:build_app",
        "args": args,
    }
    if deployments:
        app["deployments"] = deployments
    return ServeDeploySchema.model_validate({"applications": [app]})


def apply(config, base_url: str, timeout_s: float = 120.0) -> None:
    """Apply a Serve config and wait until the application answers as ready."""
    from ray import serve
    from ray.serve.context import _get_global_client

    _get_global_client().deploy_apps(config, _blocking=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications[APP]
        if status.status == "RUNNING":
            try:
                if httpx.get(f"{base_url}/v2/health/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        elif status.status in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise AssertionError(f"the Serve app failed to deploy: {status.message}")
        time.sleep(0.5)
    raise AssertionError("the Serve app did not become ready in time")


@pytest.fixture(scope="session")
def tiny():
    return tiny_models


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> str:
    return tiny_models.populate(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module")
def serve_instance(ray_local):
    """Serve on a free port on 127.0.0.1 for one module; shut down at its end."""
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


@pytest.fixture(scope="module")
def deploy(serve_instance):
    """``deploy(args, deployments=None)`` applies a Serve config and waits until it is ready."""

    def _deploy(args: dict[str, Any], deployments: list[dict[str, Any]] | None = None) -> str:
        apply(serve_config(args, deployments), serve_instance)
        return serve_instance

    return _deploy
