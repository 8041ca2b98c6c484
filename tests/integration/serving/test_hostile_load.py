"""Bounded work per request: a stream of maximal hostile requests (a few MB of highly
compressible images, as many as one request may hold) alongside normal traffic, on the
single-task app. Each hostile request decodes at most the per-request pixel budget and is
refused with a 413; decoding runs off the replica's event loop, so normal requests and the
health check keep answering and the replica is never restarted (issue 13)."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json

import httpx
import pytest
from PIL import Image

from kiln.serving import media
from kiln.serving.inputs import MAX_INSTANCES

pytestmark = pytest.mark.ray
HOSTILE_CLIENTS, HOSTILE_EACH, NORMAL = 2, 6, 24


def hostile_body() -> bytes:
    """MAX_INSTANCES copies of one black image of 40 % of the pixel budget: a few MB of JSON
    that would decode to tens of gigapixel-bytes without a per-request budget."""
    side = int((media.MAX_PIXELS * 0.4) ** 0.5)
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, format="PNG")
    image = base64.b64encode(buffer.getvalue()).decode()
    return json.dumps({"instances": [image] * MAX_INSTANCES}).encode()


def test_hostile_requests_are_refused_while_normal_traffic_and_health_keep_answering(
    deploy, registry, tiny
):
    args = {
        "registry": registry,
        "models": {"classification": {"name": tiny.NAMES["classification"]}},
    }
    base_url = deploy(args)
    body = hostile_body()
    assert len(body) < 8 * 1024 * 1024  # under the default body limit: the budget must act
    client = httpx.Client(base_url=base_url, timeout=120)
    started = client.get("/v1/models").json()[0]["started_at"]

    def hostile_stream() -> list[int]:
        with httpx.Client(base_url=base_url, timeout=120) as own:
            return [
                own.post(
                    "/v1/classification/predict",
                    content=body,
                    headers={"content-type": "application/json"},
                ).status_code
                for _ in range(HOSTILE_EACH)
            ]

    with concurrent.futures.ThreadPoolExecutor(HOSTILE_CLIENTS) as pool:
        hostile = [pool.submit(hostile_stream) for _ in range(HOSTILE_CLIENTS)]
        normal, health = [], []
        for i in range(NORMAL):
            reply = client.post(
                "/v1/classification/predict",
                content=tiny.png((255, 0, 0) if i % 2 else (0, 0, 255)),
                headers={"content-type": "image/png"},
            )
            normal.append((reply.status_code, reply.json()["predictions"][0]["label"]))
            health.append(client.get("/v2/health/ready").status_code)
        refused = [code for future in hostile for code in future.result()]
    print(f"normal: {len(normal)} answered; hostile: {refused.count(413)} refused with 413")
    assert normal == [(200, "dog" if i % 2 == 0 else "cat") for i in range(NORMAL)]
    assert health == [200] * NORMAL
    assert refused == [413] * HOSTILE_CLIENTS * HOSTILE_EACH
    assert client.get("/v1/models").json()[0]["started_at"] == started, "the replica restarted"
