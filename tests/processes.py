"""Processes tests start and watch: ``kiln serve`` until it is ready, and the process tree a
test or benchmark started, read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

KILN = str(Path(sys.executable).with_name("kiln"))


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (Ray's GCS, raylet, workers, HAProxy)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def kiln_serve(
    *args: str,
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ready_within_s: float = 240,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``kiln serve ARGS --port P`` in its own process group, yielded (URL, process) once
    ``/v2/health/ready`` answers 200; SIGTERMed (then killed) on the way out. It fails the
    test with the server's log if the server exits or is not ready in time."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [KILN, "serve", *args, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log, ready_within_s)
        yield url, process
    finally:
        stop(process)


def stop(process: subprocess.Popen, within_s: float = 90) -> None:
    """SIGTERM to ``kiln serve`` alone, as Kubernetes stops a pod's main process (a SIGTERM to
    the whole group would kill Ray under the server while it drains); then SIGKILL to whatever
    of its process group is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(within_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"kiln serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"kiln serve was not ready in {within_s} s:\n{log.read_text()[-3000:]}")
        time.sleep(1)
