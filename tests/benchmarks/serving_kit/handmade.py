"""What a user could write instead of Kiln: uvicorn + Starlette around the same ONNX file.

The same PNG decoding as Kiln's friendly API (Pillow, RGB, float32 at the model's size), one
onnxruntime session on all cores with the same options as the bare baseline, run in Starlette's
thread pool. Run: ``python -m tests.benchmarks.serving_kit.handmade MODEL.onnx PORT``.
"""

from __future__ import annotations

import io
import sys

import numpy as np


def build_app(model_path: str):
    import os

    from PIL import Image
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.benchmarks.serving_kit.bare import session

    with open(model_path, "rb") as f:
        model = session(f.read(), os.cpu_count() or 1)
    name = model.get_inputs()[0].name
    height, width = model.get_inputs()[0].shape[1:3]

    def infer(body: bytes) -> list[float]:
        image = Image.open(io.BytesIO(body)).convert("RGB")
        if image.size != (width, height):
            image = image.resize((width, height))
        x = np.asarray(image, dtype=np.float32)[None]
        return model.run(None, {name: x})[0][0].tolist()

    async def predict(request: Request) -> JSONResponse:
        scores = await run_in_threadpool(infer, await request.body())
        return JSONResponse({"label": int(np.argmax(scores)), "scores": scores})

    return Starlette(routes=[Route("/v1/classification/predict", predict, methods=["POST"])])


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        build_app(sys.argv[1]),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        log_level="warning",
        access_log=False,
    )
