"""Explanations in a replica, without Ray: the Grad-CAM graph a version records answers
/v1 and NAME-explain image by image; a version without one answers 404; the overlay is the
TF-free one `kiln explain` draws too."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from kiln.heatmap import jet, overlay
from kiln.registry import RegistryStore
from kiln.serving.config import RuntimeConfig
from kiln.serving.task import ServedTask
from kiln.serving.v1.types import PredictRequest
from kiln.serving.v2.types import InferRequest


def served(tmp_path, tiny, explained: bool) -> ServedTask:
    store = RegistryStore(str(tmp_path))
    manifest, extras = tiny.manifest("classification"), None
    if explained:
        graph = tiny.explainer()
        manifest, extras = tiny.with_explainer(manifest, graph), {"explain.onnx": graph}
    store.register(manifest, tiny.classifier(), extras=extras)
    task = ServedTask(str(tmp_path), "classification", tiny.NAMES["classification"])
    task.configure(RuntimeConfig(version=1))
    return task


def test_two_images_are_explained_one_by_one_in_json(tmp_path, tiny):
    task = served(tmp_path, tiny, explained=True)
    body = json.dumps(
        {"instances": [tiny.image((200, 0, 0)).tolist(), tiny.image((0, 0, 200)).tolist()]}
    )
    reply = asyncio.run(task.explain_v1(PredictRequest(body.encode(), "application/json")))
    assert reply.status == 200, reply.content
    first, second = reply.json()["predictions"]
    assert (first["label"], second["label"]) == ("cat", "dog")
    side = tiny.IMAGE // 4
    assert np.allclose(first["heatmap"], np.full((side, side), 200 / 255), atol=1e-5)
    assert np.allclose(second["heatmap"], 0.0)


def test_name_explain_answers_the_graphs_outputs(tmp_path, tiny):
    task = served(tmp_path, tiny, explained=True)
    pixels = np.stack([tiny.image((200, 0, 0))] * 3).astype(np.float32)
    head = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(pixels.shape),
                "data": pixels.ravel().tolist(),
            }
        ]
    }
    reply = asyncio.run(task.infer_v2(InferRequest(json.dumps(head).encode(), explain=True)))
    assert reply.status == 200, reply.content
    outputs = {o["name"]: o["shape"] for o in reply.json()["outputs"]}
    assert outputs == {"heatmap": [3, tiny.IMAGE // 4, tiny.IMAGE // 4], "probabilities": [3, 2]}
    assert reply.json()["model_name"] == f"{tiny.NAMES['classification']}-explain"


def test_a_version_without_a_grad_cam_graph_answers_404(tmp_path, tiny):
    task = served(tmp_path, tiny, explained=False)
    png = tiny.png((200, 0, 0))
    reply = asyncio.run(task.explain_v1(PredictRequest(png, "image/png")))
    assert reply.status == 404 and "no Grad-CAM graph" in reply.json()["error"]
    metadata = asyncio.run(task.metadata_v2(None, explain=True))
    assert metadata.status == 404


def test_the_overlay_puts_red_where_the_map_is_hot_at_the_image_size():
    image = np.zeros((32, 32, 1), dtype=np.uint8)
    heat = np.zeros((4, 4), dtype=np.float32)
    heat[0, 0] = 1.0
    picture = overlay(image, heat)
    assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8
    red, _, blue = picture[0, 0].astype(int)
    assert red > blue and picture[31, 31, 2] > picture[31, 31, 0]  # cold corner: blue
    ends = jet(np.array([0.0, 1.0]))  # jet's ends: dark blue (0, 0, .5) and dark red (.5, 0, 0)
    assert np.allclose(ends, [[0.0, 0.0, 0.5], [0.5, 0.0, 0.0]])
