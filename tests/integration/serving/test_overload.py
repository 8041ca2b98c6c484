"""Overload: at concurrency 64, past a bounded queue, requests are shed with 503 and Retry-After
instead of waiting without bound, on both app shapes (issue 13).

To make the queue fill, each replica takes at most two requests at once and holds them in its
batcher for the batch wait (batches of up to eight, a one-second wait); two more may queue in
front of it (at Serve's proxy in front of a deployment that is its own ingress, one task or
several sharing it; at the ingress deployment with ``ingress_deployment``).
``CLIENTS`` concurrent clients each send ``ROUNDS`` requests back to back. Every answer must be
a 200 or a 503 with Retry-After (no other status, no transport error), Serve's proxy health
(what KubeRay probes) answers 200 throughout, the replica is not restarted, and the ingress
counts every request it shed in ``kiln_requests_shed_total``. The p99 latency of the accepted
requests is printed, not asserted (no timing assertions).
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.ray
CLIENTS, ROUNDS = 64, 3
SHED = "ray_kiln_requests_shed_total"


def shed_counted(ray) -> float:
    port = ray.nodes()[0]["MetricsExportPort"]
    page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text
    return sum(float(v) for v in re.findall(rf"^{SHED}{{[^}}]*}} (\S+)$", page, re.MULTILINE))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def poll_health(base_url: str, stop: threading.Event) -> list[int]:
    codes = []
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            codes.append(client.get(f"{base_url}/-/healthz").status_code)
            stop.wait(0.2)
    return codes


@pytest.mark.parametrize(
    ("tasks", "ingress_deployment"),
    [(["classification"], False), (["classification", "forecasting"], True)],
)
def test_a_burst_past_the_queue_is_shed_with_503_and_retry_after(
    deploy, registry, tiny, ray_local, tasks, ingress_deployment
):
    args = {
        "registry": registry,
        "models": {task: {"name": tiny.NAMES[task]} for task in tasks},
        "ingress_deployment": ingress_deployment,
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 1.0},
        "max_ongoing_requests": 2,
        "max_queued_requests": 2,
        "retry_after_s": 3,
    }
    base_url = deploy(args)
    started = httpx.get(f"{base_url}/v1/models").json()[0]["started_at"]
    counted_before = shed_counted(ray_local)
    red = tiny.png((255, 0, 0))

    def client_rounds(_: int) -> list[tuple[int, str | None, dict, float]]:
        replies = []
        with httpx.Client(timeout=120) as client:
            for _ in range(ROUNDS):
                began = time.perf_counter()
                r = client.post(
                    f"{base_url}/v1/classification/predict",
                    content=red,
                    headers={"content-type": "image/png"},
                )
                json = r.headers.get("content-type") == "application/json"
                body = r.json() if json else {"text": r.text[:200]}  # Serve's 503 is plain text
                seconds = time.perf_counter() - began
                replies.append((r.status_code, r.headers.get("retry-after"), body, seconds))
        return replies

    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS + 1) as pool:
        health = pool.submit(poll_health, base_url, stop)
        try:
            replies = [r for rs in pool.map(client_rounds, range(CLIENTS)) for r in rs]
        finally:
            stop.set()
    answered = [r for r in replies if r[0] == 200]
    shed = [r for r in replies if r[0] == 503]
    print(
        f"{tasks}: {CLIENTS} clients x {ROUNDS}: {len(answered)} answered (p99 "
        f"{p99([r[3] for r in answered]):.2f} s), {len(shed)} shed with 503 (p99 "
        f"{p99([r[3] for r in shed]):.2f} s)"
    )
    assert len(answered) + len(shed) == CLIENTS * ROUNDS, sorted(r[0] for r in replies)
    assert answered and shed
    assert all(r[2]["predictions"][0]["label"] == "cat" for r in answered)
    assert all(r[1] == "3" for r in shed)
    assert set(health.result()) == {200}, "Serve's proxy health stopped answering 200"
    # Once the burst is over, the replica answers again; it was never restarted.
    assert httpx.get(f"{base_url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{base_url}/v1/models").json()[0]["started_at"] == started
    if ingress_deployment:  # shed by the ingress: its own error body, and counted
        assert {r[2]["code"] for r in shed} == {"overloaded"}
        deadline = time.monotonic() + 60  # replicas export every few seconds; bounded wait
        while shed_counted(ray_local) - counted_before < len(shed) and time.monotonic() < deadline:
            time.sleep(2)
        assert shed_counted(ray_local) - counted_before == len(shed)
