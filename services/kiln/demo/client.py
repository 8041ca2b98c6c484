"""The demo's client: real HTTP requests to the running application through both APIs.

Every image goes as a raw PNG to ``/v1/{task}/predict``; every forecasting window as JSON rows in
physical units. The same inputs then go as one tensor batch through the Open Inference
Protocol with the stock ``tritonclient``, and the two answers are compared.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from PIL import Image

from kiln.tasks import SPECS


@dataclass
class Served:
    """What the server answered for one task's test inputs, and how fast."""

    outputs: list[Any] = field(default_factory=list)  # labels, masks or °C, per input
    v1_seconds: list[float] = field(default_factory=list)
    v2_seconds: float = 0.0
    v2_outputs: np.ndarray | None = None
    version: str = ""

    @property
    def v1_p50_ms(self) -> float:
        return float(np.median(self.v1_seconds) * 1000) if self.v1_seconds else float("nan")


def png_bytes(image: np.ndarray) -> bytes:
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _post(client: httpx.Client, task: str, content: bytes, content_type: str) -> tuple[dict, float]:
    started = time.perf_counter()
    reply = client.post(
        f"/v1/{task}/predict", content=content, headers={"content-type": content_type}
    )
    seconds = time.perf_counter() - started
    if reply.status_code != 200:
        raise RuntimeError(f"/v1/{task}/predict answered {reply.status_code}: {reply.text[:300]}")
    return reply.json() | {"_version": reply.headers.get("x-kiln-model-version", "")}, seconds


def serve_images(url: str, task: str, images: list[np.ndarray], class_names: list[str]) -> Served:
    served = Served()
    with httpx.Client(base_url=url, timeout=60) as client:
        for image in images:
            answer, seconds = _post(client, task, png_bytes(image), "image/png")
            prediction = answer["predictions"][0]
            if SPECS[task].answer == "label":
                served.outputs.append(
                    class_names.index(prediction["label"])
                    if prediction["label"] in class_names
                    else -1
                )
            else:
                mask = Image.open(io.BytesIO(base64.b64decode(prediction["mask_png"])))
                served.outputs.append(np.asarray(mask))
            served.v1_seconds.append(seconds)
            served.version = answer["_version"]
    return served


def serve_windows(url: str, task: str, windows: list[list[dict[str, float]]]) -> Served:
    served = Served()
    with httpx.Client(base_url=url, timeout=60) as client:
        for rows in windows:
            content = httpx.Request("POST", url, json={"rows": rows}).content
            answer, seconds = _post(client, task, content, "application/json")
            served.outputs.append(float(answer["predictions"][0]["value"]))
            served.v1_seconds.append(seconds)
            served.version = answer["_version"]
    return served


def infer_v2(url: str, model_name: str, batch: np.ndarray, served: Served) -> None:
    """One OIP v2 request with binary tensor data, through the unmodified tritonclient."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url.removeprefix("http://"), network_timeout=120.0)
    try:
        if not client.is_model_ready(model_name):
            raise RuntimeError(f"OIP v2 says {model_name} is not ready")
        tensor = triton.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        started = time.perf_counter()
        result = client.infer(model_name, [tensor])
        served.v2_seconds = time.perf_counter() - started
        served.v2_outputs = result.as_numpy("output")
    finally:
        client.close()


def explain_images(url: str, images: list[np.ndarray]) -> tuple[list[dict[str, Any]], list[float]]:
    """Each image to ``POST /v1/classification/explain`` as JSON: the predictions (label,
    probabilities, raw heatmap, overlay PNG and, as ``_overlay``, that PNG decoded) and the
    seconds each call took."""
    answers, seconds = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for image in images:
            started = time.perf_counter()
            reply = client.post(
                "/v1/classification/explain",
                content=png_bytes(image),
                headers={"content-type": "image/png", "accept": "application/json"},
            )
            seconds.append(time.perf_counter() - started)
            if reply.status_code != 200:
                raise RuntimeError(
                    f"/v1/classification/explain answered {reply.status_code}: {reply.text[:300]}"
                )
            answer = reply.json()["predictions"][0]
            overlay = Image.open(io.BytesIO(base64.b64decode(answer["overlay_png"])))
            answers.append(answer | {"_overlay": np.asarray(overlay)})
    return answers, seconds
