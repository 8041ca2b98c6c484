"""A multi-node Ray cluster on this machine: a head and two worker nodes as separate raylets
(``ray.cluster_utils.Cluster``), against moto's S3 server on 127.0.0.1.

The head has no CPUs: it runs what a KubeRay head pod runs (the job's entrypoint, Ray Train's
controller, the driver's progress queue), all at 0 CPUs. Each worker node has one CPU and a
custom resource naming it, so the two training workers (one CPU each) can only land on two
different nodes, as on two pods. Nodes are stopped by the Cluster itself (their own process
trees), never with ``ray stop``.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RayCluster:
    """The cluster, its Jobs API address, and its worker nodes by name."""

    cluster: Any
    jobs_address: str
    temp_dir: Path
    workers: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def add_worker(self, name: str) -> Any:
        """A worker node with one CPU and the custom resource ``kiln-node-<name>``."""
        node = self.cluster.add_node(
            num_cpus=1,
            resources={f"kiln-node-{name}": 1},
            object_store_memory=150 * 1024 * 1024,
        )
        self.workers[name] = node
        return node

    def kill_worker(self, name: str) -> None:
        """SIGKILL the node's raylet and everything it started (its training worker too)."""
        node = self.workers.pop(name)
        self.cluster.remove_node(node, allow_graceful=False)
        self.removed.append(node.node_id)

    def node_ids(self) -> dict[str, str]:
        return {name: node.node_id for name, node in self.workers.items()}


@pytest.fixture(scope="module")
def ray_cluster(s3_server) -> Iterator[RayCluster]:
    """Head (0 CPUs, dashboard with the Jobs API) and worker nodes ``a`` and ``b``. Started
    after the S3 server, so every raylet, and so every job and worker, has its endpoint and
    dummy credentials in the environment, as a pod would have them from its Secret."""
    from ray._common.utils import reset_ray_address
    from ray._private.utils import write_ray_address
    from ray.cluster_utils import Cluster
    from ray.job_submission import JobSubmissionClient

    # Nodes take the machine's own address (Ray's default): Ray's agents turn 127.0.0.1 into
    # that address when they connect, so a cluster pinned to 127.0.0.1 never gets its job agent.
    temp_dir = Path(tempfile.mkdtemp(prefix="kc-"))  # short: Ray's socket paths have a limit
    saved = {key: os.environ.get(key) for key in ("PATH", "RAY_ADDRESS", "RAY_AUTH_MODE")}
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{saved['PATH']}"  # `kiln` for the job's shell
    os.environ.pop("RAY_ADDRESS", None)
    # Token authentication off for this in-process cluster: the token Ray generates for it is
    # not handed to the drivers its jobs start (KubeRay hands every container its cluster's).
    os.environ["RAY_AUTH_MODE"] = "disabled"
    dashboard = free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "gcs_server_port": free_port(),
            "dashboard_agent_listen_port": free_port(),
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": dashboard,
            "temp_dir": str(temp_dir),
        },
        shutdown_at_exit=True,
    )
    # Cluster() records its address in /tmp/ray for `ray.init()` to find: any other process
    # on this machine that starts "a local Ray" would join this cluster instead. Forget it.
    reset_ray_address()
    # The Jobs API gives each job's driver RAY_ADDRESS resolved from "auto" in the head's own
    # temp dir; with no address recorded there it takes any GCS running on the machine, so a
    # job could join another Ray (a test's, a colleague's). Record the cluster's own there.
    write_ray_address(cluster.address, str(temp_dir))
    handle = RayCluster(cluster, f"http://127.0.0.1:{dashboard}", temp_dir)
    try:
        handle.add_worker("a")
        handle.add_worker("b")
        deadline = time.monotonic() + 120
        while True:
            try:
                JobSubmissionClient(handle.jobs_address)
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield handle
    finally:
        cluster.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)
