"""Run the Serve application from a process: on a local Ray started here, or on a cluster.

Used by ``kiln serve``, ``kiln demo`` and the serving benchmark. Serve binds 127.0.0.1 unless a
host is given. A local Ray is started by ``kiln.localray``: HAProxy as Serve's ingress and
throughput-optimized Serve, every Ray process listening on loopback only.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

from kiln import localray
from kiln.errors import ConfigError, NotReady
from kiln.localray.lean import ray_is_checked
from kiln.registry import RegistryStore, parse_ref
from kiln.serving.config import APP_NAME, ModelChoice, ServeArgs
from kiln.tasks import TASKS

INGRESSES = ("haproxy", "python")
# No access log and WARNING only: logging per request costs throughput (docs/benchmarks.md).
QUIET = {"log_level": "WARNING", "enable_access_log": False}


def discover_models(
    registry: str, tasks: list[str] | None = None, chosen: dict[str, str] | None = None
) -> dict[str, ModelChoice]:
    """One model per task: ``chosen`` ("NAME" or "NAME:VERSION") or else the newest registered.

    Without ``tasks``, every task that has a model in the registry is served.
    """
    store = RegistryStore(registry)
    newest: dict[str, tuple[Any, str]] = {}
    for name in store.names():
        manifest = store.manifest(name)
        if manifest.task not in newest or manifest.created > newest[manifest.task][0]:
            newest[manifest.task] = (manifest.created, name)
    wanted = list(tasks or [t for t in TASKS if t in newest or t in (chosen or {})])
    if not wanted:
        raise ConfigError(f"the registry at {registry} holds no models; run `kiln export` first")
    models = {}
    for task in wanted:
        ref = (chosen or {}).get(task)
        if ref is not None:
            name, version = parse_ref(ref)
            models[task] = ModelChoice(name=name, version=version)
        elif task in newest:
            models[task] = ModelChoice(name=newest[task][1])
        else:
            raise ConfigError(f"the registry at {registry} has no {task} model")
    return models


@dataclass
class LocalServer:
    url: str
    started_ray: bool
    retry_after_s: float = 1.0

    def stop(self) -> None:
        import ray
        from ray import serve

        drain(self.retry_after_s)
        if self.started_ray:
            serve.shutdown()
            ray.shutdown()
        else:  # on a shared cluster remove only our application
            serve.delete(APP_NAME)


def drain(retry_after_s: float, timeout_s: float = 60.0) -> None:
    """Swap the application's deployments for one answering 503 with Retry-After, and wait until
    the replaced replicas are gone. The route stays, so requests arriving meanwhile get that 503
    (not Serve's 404 for a removed route); each replaced replica answers the requests it holds
    before it stops (graceful_shutdown_timeout_s), while the ingress still carries the answers
    back. serve.shutdown() alone would stop the ingress at once."""
    from ray import serve

    from kiln.serving.deployments import DRAINING, draining_app

    serve.run(draining_app(retry_after_s), name=APP_NAME, route_prefix="/", logging_config=QUIET)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if set(serve.status().applications[APP_NAME].deployments) == {DRAINING}:
            return
        time.sleep(0.2)


def start(
    args: ServeArgs,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    ingress: str = "haproxy",
    num_cpus: int | None = None,
    timeout_s: float = 300.0,
) -> LocalServer:
    """Deploy ``args`` and wait until the API answers ready; start a local Ray if needed.

    ``ingress`` ("haproxy" or "python", Serve's own proxy) applies to a Ray started here; a
    cluster's ingress is set where the cluster starts (the operator's RayService).
    """
    if ingress not in INGRESSES:
        raise ConfigError(f"ingress {ingress!r}: expected one of {', '.join(INGRESSES)}")
    import ray
    from ray import serve

    from kiln.serving.app import build_app

    started_ray = False
    if not address:
        check_port_free(host, port)
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                localray.init(
                    num_cpus,
                    python_proxy=ingress == "python",
                    fallback_proxy=args.autoscaling.min_replicas == 0,
                )
        except Exception as e:  # Ray raises bare Exception/ConnectionError when it cannot start
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise NotReady(f"could not start or join {where}: {e}") from e
        started_ray = not address
    http_options = {"host": host, "port": port}
    # start_controller reaches into Serve's internals: only on the Ray release it was checked on.
    if started_ray and ray_is_checked():
        start_controller(http_options)
    else:
        serve.start(http_options=http_options, logging_config=QUIET)
    app = build_app(args)
    serve.run(app, name=APP_NAME, route_prefix="/", blocking=False, logging_config=QUIET)
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    server = LocalServer(url, started_ray, args.retry_after_s)
    wait_ready(server.url, timeout_s)
    return server


def start_controller(http_options: dict[str, Any]) -> None:
    """``serve.start`` on a Ray started here, except that it returns once Serve's controller is
    up rather than once every proxy answers ready. Serve's own start waits for HAProxy, its
    manager's process and the fallback proxy before anything can be deployed, so the replica's
    process started only after them; here the application is deployed while they start, and
    ``wait_ready`` waits for the first HTTP answer either way. (Serve's start, minus its
    ``ray.get`` on the proxies' ``ready``; a fresh Ray has no Serve to connect to.)"""
    from ray.serve._private import api
    from ray.serve._private.client import ServeControllerClient
    from ray.serve.context import _set_global_client

    options = api._coerce_controller_options(None)
    controller, _ = api._create_controller_and_proxy_refs(http_options, None, QUIET, None, options)
    _set_global_client(ServeControllerClient(controller))


def check_port_free(host: str, port: int) -> None:
    """Refuse a busy port up front: Serve's proxy would otherwise fail quietly in the background."""
    with socket.socket() as probe:
        # Like the server itself, ignore connections of an earlier run still in TIME_WAIT.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({e.strerror}); choose --port"
            ) from e


def wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise NotReady(f"the Serve application at {url} was not ready after {timeout_s:.0f} s")
