"""`kiln serve` in the foreground (its own process and local Ray), `kiln predict` against it,
and a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from tests.processes import descendants
from tests.processes import kiln_serve as start_kiln_serve

from kiln.commands.predict import predict

from . import sockets

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def kiln_serve(registry, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    args = ("--registry", registry, "--task", "classification", "--task", "forecasting")
    with start_kiln_serve(*args, log=log, ready_within_s=180) as (url, process):
        yield url, process, log


def test_every_process_of_kiln_serve_listens_on_loopback_only(kiln_serve):
    """The default (HAProxy ingress) binds nothing beyond the interface asked for: here
    127.0.0.1, for the API port and for every port of Ray's own processes."""
    url, process, _ = kiln_serve
    found = sockets.listeners(process.pid)
    commands = " ".join(command for command, _ in found.values())
    assert "haproxy" in commands and "ServeReplica" in commands, commands
    port = int(url.rsplit(":", 1)[1])
    bound = [(address, p) for _, addresses in found.values() for address, p in addresses]
    assert ("127.0.0.1", port) in bound
    exposed = {
        pid: (command[:80], addresses)
        for pid, (command, addresses) in found.items()
        if any(not sockets.is_loopback(address) for address, _ in addresses)
    }
    assert not exposed, exposed


def test_kiln_serve_starts_no_ray_process_serving_does_not_need_and_still_exports_metrics(
    kiln_serve, tiny
):
    """No dashboard head, autoscaler monitor, log monitor or Serve fallback proxy, and no
    process loads pandas or TensorFlow (kiln.localray); Ray's metrics agent beside the raylet
    still exports Kiln's and Serve's metrics."""
    url, process, _ = kiln_serve
    commands, libraries = [], []
    for pid in descendants(process.pid):
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            libraries.append(Path(f"/proc/{pid}/maps").read_text())
        except OSError:
            continue  # ended meanwhile
    for unneeded in ("dashboard/dashboard.py", "/monitor.py", "/log_monitor.py", "ProxyActor"):
        assert not [c for c in commands if unneeded in c], unneeded
    assert [c for c in commands if "ServeReplica" in c], commands  # the listing saw the workers
    for unneeded in ("/pandas/", "/tensorflow/"):
        assert not [m for m in libraries if unneeded in m], unneeded
    # The metrics agent chose its port at start; it is one of the ports it listens on.
    ports = [
        p
        for c, addresses in sockets.listeners(process.pid).values()
        if "DashboardAgent" in c
        for _, p in addresses
    ]
    httpx.post(
        f"{url}/v1/classification/predict",
        content=tiny.png((255, 0, 0)),
        headers={"content-type": "image/png"},
    ).raise_for_status()
    wanted, text = ("ray_kiln_inference_requests_total", "ray_serve_"), ""
    deadline = time.monotonic() + 90  # Ray exports metrics every few seconds
    while not all(name in text for name in wanted) and time.monotonic() < deadline:
        time.sleep(2)
        text = "".join(metrics_text(port) for port in ports)
    assert all(name in text for name in wanted), text[-2000:]


def metrics_text(port: int) -> str:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    except httpx.HTTPError:
        return ""  # one of the agent's gRPC ports
    return reply.text if reply.status_code == 200 else ""


def test_predict_prints_a_readable_answer(kiln_serve, tiny, tmp_path):
    url, _, _ = kiln_serve
    image = tmp_path / "cat.png"
    image.write_bytes(tiny.png((255, 0, 0)))
    result = CliRunner().invoke(predict, ["--task", "classification", str(image), "--url", url])
    assert result.exit_code == 0, result.output
    assert "cat (100.0%)" in result.output and "model version 1" in result.output
    rows = tmp_path / "jena.csv"
    header = list(tiny.rows(0.0)[0])
    rows.write_text(
        "\n".join(
            [",".join(header)]
            + [",".join(str(r[h]) for h in header) for r in tiny.rows(7.25, count=40)]
        )
    )
    result = CliRunner().invoke(predict, ["--task", "forecasting", str(rows), "--url", url])
    assert "T (degC) 24 h after the window: 7.25 degC" in result.output, result.output


def test_predict_reports_a_server_error_and_a_task_not_served(kiln_serve, tmp_path):
    url, _, _ = kiln_serve
    body = tmp_path / "bad.json"
    body.write_text(json.dumps({"instances": [[[1]]]}))
    result = CliRunner().invoke(predict, ["--task", "classification", str(body), "--url", url])
    assert (
        result.exit_code == 2 and "422" in result.output and "expected [32, 32, 3]" in result.output
    )
    result = CliRunner().invoke(predict, ["--task", "segmentation", str(body), "--url", url])
    assert result.exit_code == 2 and "not served" in result.output


def test_predict_says_when_no_server_answers(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG")
    result = CliRunner().invoke(
        predict, ["--task", "classification", str(image), "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2 and "is `kiln serve` running?" in result.output


def test_ctrl_c_stops_serve_cleanly(kiln_serve):
    url, process, log = kiln_serve
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=90) == 0, log.read_text()[-3000:]
    assert "stopped" in log.read_text()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/v2/health/live", timeout=3)
