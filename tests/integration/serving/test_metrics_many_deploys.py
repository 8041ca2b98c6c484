"""Kiln's serving metrics still reach the Ray metrics agent after many deploy/shutdown cycles of
the app on one Ray, as a long-lived cluster redeploys.

Ray 2.60's metrics agent keeps the histogram and counter series of every process that ever
reported them (only gauges expire), so its Prometheus page grows with each replica, proxy and
controller a redeploy replaces. After a whole suite on one Ray the live-dashboard test's
histograms went missing: its Prometheus scraped with a one-second timeout, which a page that size
outgrows (docs/kubernetes.md, "Metrics in long-lived clusters"). Here the
app is deployed, sent traffic and shut down ``CYCLES`` times on the session's Ray, then
deployed once more: a scrape of the agent must hold the new replica's latency and batch-size
histograms and its request counter. The page's growth is printed, not asserted.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

pytestmark = pytest.mark.ray
CYCLES = 6
KILN_SERIES = (
    "ray_kiln_inference_latency_seconds_bucket",
    "ray_kiln_inference_batch_size_bucket",
    "ray_kiln_inference_requests_total",
)


def scrape(ray) -> str:
    port = ray.nodes()[0]["MetricsExportPort"]
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text


def replicas_reporting(page: str, series: str) -> set[str]:
    return set(re.findall(rf'^{series}{{[^}}]*replica="([^"]+)"', page, re.MULTILINE))


def deploy_and_send(ray_local, apply, serve_config, free_port, args, tiny) -> str:
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    url = f"http://127.0.0.1:{port}"
    apply(serve_config(args), url)
    with httpx.Client(timeout=30) as client:
        for color in [(255, 0, 0), (0, 0, 255)] * 10:
            reply = client.post(
                f"{url}/v1/classification/predict",
                content=tiny.png(color),
                headers={"content-type": "image/png"},
            )
            assert reply.status_code == 200, reply.text
    return url


def test_histograms_reach_the_agent_after_many_deploy_and_shutdown_cycles(
    ray_local, registry, tiny, serving_helpers
):
    from ray import serve

    apply, serve_config, free_port = serving_helpers
    args = {"registry": registry, "models": {"classification": {"name": "tiny-classifier"}}}
    sizes = [len(scrape(ray_local))]
    for _ in range(CYCLES):
        deploy_and_send(ray_local, apply, serve_config, free_port, args, tiny)
        serve.shutdown()
        sizes.append(len(scrape(ray_local)))
    seen = replicas_reporting(scrape(ray_local), KILN_SERIES[0])
    try:
        deploy_and_send(ray_local, apply, serve_config, free_port, args, tiny)
        missing: tuple[str, ...] = KILN_SERIES
        deadline = time.monotonic() + 90  # replicas export every few seconds; bounded wait
        while missing and time.monotonic() < deadline:
            page = scrape(ray_local)
            missing = tuple(s for s in KILN_SERIES if not replicas_reporting(page, s) - seen)
            if missing:
                time.sleep(2)
    finally:
        serve.shutdown()
    print(f"metrics page after each of {CYCLES} cycles, bytes: {sizes}")
    assert not missing, f"the new replica's series never reached the agent: {missing}"
