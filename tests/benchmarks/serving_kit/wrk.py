"""Load from ``wrk`` (Debian's package; C, well under 1 % of a core) with a Lua POST script."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def lua_script(directory: Path, body: bytes, content_type: str) -> Path:
    body_path = directory / "body.bin"
    body_path.write_bytes(body)
    script = directory / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'local f = io.open("{body_path}", "rb")\n'
        'wrk.body = f:read("*a")\n'
        "f:close()\n"
    )
    return script


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse(output: str) -> dict[str, float]:
    """Requests/s, p50 / p99 ms and errors (non-2xx answers + socket errors) from wrk's text."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(found.group(1))
    if found := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(n) for n in found.groups())
    return {"rps": rps, "p50": p50, "p99": p99, "errors": float(errors)}


def run(url: str, script: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """One warm-up second, then ``seconds`` of closed-loop load on ``concurrency`` connections."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is missing: run infra/local/system-deps.sh (Debian package wrk)")
    common = [binary, "-t1", f"-c{concurrency}", "--latency", "-s", str(script), url]
    subprocess.run([*common[:3], "-d1s", *common[3:]], capture_output=True, check=True)
    done = subprocess.run(
        [*common[:3], f"-d{seconds:.0f}s", "--timeout", "10s", *common[3:]],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse(done.stdout)
