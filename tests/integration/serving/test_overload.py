"""Overload: past a bounded queue, requests are shed with 503 and Retry-After instead of
waiting without bound, on both app shapes (issue 13).

To make the queue fill, each replica takes at most two requests at once and holds them in its
batcher for the batch wait (batches of up to eight, a one-second wait); two more may queue in
front of it (at Serve's proxy for the single-task app, at the ingress for the three-task app).
A burst of concurrent requests then finds the queue full.
"""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

pytestmark = pytest.mark.ray
BURST = 32


@pytest.mark.parametrize("tasks", [["classification"], ["classification", "forecasting"]])
def test_a_burst_past_the_queue_is_shed_with_503_and_retry_after(deploy, registry, tiny, tasks):
    args = {
        "registry": registry,
        "models": {task: {"name": tiny.NAMES[task]} for task in tasks},
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 1.0},
        "max_ongoing_requests": 2,
        "max_queued_requests": 2,
        "retry_after_s": 3,
    }
    base_url = deploy(args)
    red = tiny.png((255, 0, 0))

    def classify(_: int) -> httpx.Response:
        return httpx.post(
            f"{base_url}/v1/classification/predict",
            content=red,
            headers={"content-type": "image/png"},
            timeout=60,
        )

    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        replies = list(pool.map(classify, range(BURST)))
    answered = [r for r in replies if r.status_code == 200]
    shed = [r for r in replies if r.status_code == 503]
    print(f"burst of {BURST}: {len(answered)} answered, {len(shed)} shed with 503")
    assert len(answered) + len(shed) == BURST, sorted(r.status_code for r in replies)
    assert answered and shed
    assert all(r.json()["predictions"][0]["label"] == "cat" for r in answered)
    assert all(r.headers.get("retry-after") == "3" for r in shed)
    if len(tasks) > 1:  # shed by the ingress, which answers in the API's own error body
        assert {r.json()["code"] for r in shed} == {"overloaded"}
    # Once the burst is over, the replica answers again.
    assert classify(0).status_code == 200
