"""Serve on the session's local Ray, deployed the way a RayService deploys it: a Serve config
naming ``kiln.serving.app:build_app`` with args, applied to the Serve controller.

Each test module starts Serve once (on its own free port) and shuts it down at the end, so
training tests find their CPUs free afterwards.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
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


class Load:
    """A bounded load generator on 127.0.0.1: ``clients`` threads, each with its own keep-alive
    httpx client, send ``request(client)`` back to back until the block ends, ``max_requests``
    are sent or ``max_seconds`` pass (it stops by itself). Every answer that is not a 200 and
    every transport error is a failure, kept with when its request was sent (``sent_at``, a
    sequence number shared by all clients) so a test can tell requests sent before an event
    from those sent after it."""

    def __init__(
        self,
        request: Callable[[httpx.Client], httpx.Response],
        clients: int = 4,
        max_requests: int = 20_000,
        max_seconds: float = 240.0,
    ) -> None:
        self.request, self.clients = request, clients
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.codes: Counter[str] = Counter()
        self.failures: list[tuple[int, str]] = []  # (sequence number when sent, what happened)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.max_seconds)

    def mark(self) -> int:
        """The sequence number the next request will get: an event's place among requests."""
        with self.lock:
            return self.sent

    def wait_for(self, count: int) -> None:
        """Block until ``count`` more requests have been answered (or the load has stopped)."""
        with self.lock:
            target = sum(self.codes.values()) + len(self.failures) + count
        while not self.stop.is_set() and any(t.is_alive() for t in self.threads):
            with self.lock:
                if sum(self.codes.values()) + len(self.failures) >= target:
                    return
            time.sleep(0.05)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set() and time.monotonic() < deadline:
                with self.lock:
                    if self.sent >= self.max_requests:
                        return
                    number = self.sent
                    self.sent += 1
                try:
                    reply = self.request(client)
                    outcome = str(reply.status_code)
                    failure = None if reply.status_code == 200 else f"{outcome}: {reply.text[:200]}"
                except httpx.HTTPError as e:
                    outcome, failure = type(e).__name__, f"{type(e).__name__}: {e}"
                    self.stop.wait(0.05)  # a refused connection returns at once: no busy loop
                with self.lock:
                    if failure is None:
                        self.codes[outcome] += 1
                    else:
                        self.failures.append((number, failure))

    def report(self, what: str) -> str:
        answered = sum(self.codes.values())
        kinds = Counter(f.split(":")[0] for _, f in self.failures)
        line = f"{what}: {self.sent} sent, {answered} answered 200, {len(self.failures)} failed"
        return line + (f" {dict(kinds)}" if kinds else "")


@pytest.fixture(scope="session")
def load_generator() -> type[Load]:
    """``conftest.Load``, the bounded load generator, for test modules (they cannot import it)."""
    return Load


@pytest.fixture(scope="session")
def serving_helpers():
    """``(apply, serve_config, free_port)`` for tests that start and stop Serve themselves."""
    return apply, serve_config, free_port
