"""Server processes under test: start one, time it to its first answer, sum its memory, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.processes import descendants

KILN = str(Path(sys.executable).with_name("kiln"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and every process below it (Ray's GCS, raylet, workers,
    HAProxy). VmRSS is per process, so a process's threads are counted once."""
    total = 0
    for pid in descendants(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    cold_start_s: float
    log: Path

    def rss_mb(self) -> float:
        return tree_rss_mb(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def start(
    command: list[str], port: int, body: bytes, content_type: str, env: dict | None = None
) -> Server:
    """Start ``command`` (listening on ``port``, in ``env``); cold start = process start to the
    first 200 answer to a real classification request."""
    log = Path(tempfile.mkstemp(prefix="kiln-bench-server-", suffix=".log")[1])
    url = f"http://127.0.0.1:{port}/v1/classification/predict"
    began = time.perf_counter()
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    headers = {"Content-Type": content_type}
    while time.perf_counter() - began < 300 and process.poll() is None:
        try:
            if httpx.post(url, content=body, headers=headers, timeout=30).status_code == 200:
                return Server(process, url, time.perf_counter() - began, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"{' '.join(command)} did not answer; log in {log}")


def kiln_serve(
    registry: str, flags: list[str], body: bytes, content_type: str, env: dict | None = None
) -> Server:
    """``kiln serve`` of the code ``env`` puts first on PYTHONPATH (default: this checkout's)."""
    port = free_port()
    command = [KILN, "serve", "--registry", registry, "--port", str(port), *flags]
    return start(command, port, body, content_type, env)


def handmade(model_path: Path, body: bytes, content_type: str) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.serving_kit.handmade",
        str(model_path),
        str(port),
    ]
    return start(command, port, body, content_type)


def tree_cpu_seconds(root: int) -> dict[int, tuple[str, float]]:
    """pid → (name, user + system CPU seconds so far) of a process and every process below it."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in descendants(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = command[0].decode(errors="replace").rsplit("/", 1)[-1]
        if name.startswith("python") and len(command) > 1:  # Ray's Python daemons, by script
            name = command[1 if not command[1].startswith(b"-") else 2].decode().rsplit("/", 1)[-1]
        found[pid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def cpu_shares(before: dict, after: dict, seconds: float) -> list[tuple[str, float]]:
    """Each process's share of one core between two ``tree_cpu_seconds`` snapshots, largest first."""
    shares = [
        (name, (spent - before.get(pid, (name, 0.0))[1]) / seconds)
        for pid, (name, spent) in after.items()
    ]
    return sorted((s for s in shares if s[1] >= 0.005), key=lambda s: -s[1])
