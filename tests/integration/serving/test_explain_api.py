"""Served explanations over real HTTP on 127.0.0.1: a classifier exported with its Grad-CAM
graph, served by Ray Serve without TensorFlow in the replica's code path; the heatmaps of
``/v1/classification/explain`` and of the OIP v2 model ``NAME-explain`` equal Keras' Grad-CAM,
and bad inputs get predict's 4xx."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image
from tests.unit.explain.shapes import CLASS_NAMES, localizer, striped_boxes
from tests.unit.export.rundirs import image_info, write_run

pytestmark = pytest.mark.ray
NAME = "striped"
# Served heatmaps against Keras' own Grad-CAM (values in [0, 1]; JSON rounds to 6 decimals).
HEATMAP_ATOL = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``(registry, manifest, keras model, test images)``: a localizer trained for one epoch."""
    import keras

    from kiln.export import export_run

    images, labels, _ = striped_boxes(256, seed=0)
    model = localizer(keras)
    model.fit(images, labels, epochs=1, batch_size=32, verbose=0)
    info = image_info("classification", size=32, channels=3, classes=CLASS_NAMES)
    run = write_run(
        tmp_path_factory.mktemp("runs"),
        model,
        info,
        run_id="striped",
        architecture="localizer",
        sample=images[:16],
    )
    registry = str(tmp_path_factory.mktemp("registry"))
    manifest = export_run(run, registry, name=NAME)
    test_images, _, _ = striped_boxes(3, seed=1)
    return registry, manifest, model, test_images


@pytest.fixture(scope="module")
def client(deploy, exported):
    registry = exported[0]
    base = deploy({"registry": registry, "models": {"classification": {"name": NAME}}})
    with httpx.Client(base_url=base, timeout=60) as c:
        yield c


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def keras_maps(model, images: np.ndarray) -> np.ndarray:
    from kiln.models.gradcam import grad_cam

    return grad_cam(model, images.astype(np.uint8).astype(np.float32)).maps


def test_export_records_the_parity_gated_grad_cam_graph(exported):
    registry, manifest, model, _ = exported
    from kiln.models.gradcam import last_feature_layer
    from kiln.registry import RegistryStore

    graph = manifest.explain
    assert graph is not None and graph.layer == last_feature_layer(model).name
    assert graph.parity.samples == 16 and graph.parity.max_abs_diff <= graph.parity.atol
    assert [spec.name for spec in graph.outputs] == ["heatmap", "probabilities"]
    assert RegistryStore(registry).load_explain(manifest) is not None  # sha256 checked


def test_v1_explain_answers_keras_heatmaps_for_several_images(client, exported):
    _, _, model, images = exported
    body = {"instances": [base64.b64encode(png(image)).decode() for image in images]}
    reply = client.post("/v1/classification/explain", json=body)
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    served = np.array([p["heatmap"] for p in predictions])
    expected = keras_maps(model, images)
    assert served.shape == expected.shape
    assert np.max(np.abs(served - expected)) <= HEATMAP_ATOL
    probabilities = model.predict(images.astype(np.uint8).astype(np.float32), verbose=0)
    assert [p["label"] for p in predictions] == [CLASS_NAMES[i] for i in probabilities.argmax(1)]
    overlay = Image.open(io.BytesIO(base64.b64decode(predictions[0]["overlay_png"])))
    assert overlay.size == (32, 32) and overlay.mode == "RGB"


def test_v1_explain_answers_one_image_as_an_overlay_png(client, exported):
    image = exported[3][0]
    reply = client.post(
        "/v1/classification/explain",
        content=png(image),
        headers={"content-type": "image/png", "accept": "image/png"},
    )
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    assert reply.headers["x-kiln-label"] in CLASS_NAMES
    assert set(json.loads(reply.headers["x-kiln-probabilities"])) == set(CLASS_NAMES)
    picture = np.asarray(Image.open(io.BytesIO(reply.content)))
    assert picture.shape == (32, 32, 3)
    assert not np.array_equal(picture, image.astype(np.uint8))  # the heatmap is drawn on it


def test_oip_v2_serves_the_heatmap_as_the_model_name_explain(client, exported):
    _, _, model, images = exported
    metadata = client.get(f"/v2/models/{NAME}-explain").json()
    assert [o["name"] for o in metadata["outputs"]] == ["heatmap", "probabilities"]
    pixels = images.astype(np.uint8).astype(np.float32)
    request = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(pixels.shape),
                "data": pixels.ravel().tolist(),
            }
        ],
        "outputs": [{"name": "heatmap"}],
    }
    reply = client.post(f"/v2/models/{NAME}-explain/infer", json=request)
    assert reply.status_code == 200, reply.text
    (heatmap,) = reply.json()["outputs"]
    served = np.array(heatmap["data"], dtype=np.float32).reshape(heatmap["shape"])
    assert np.max(np.abs(served - keras_maps(model, images))) <= HEATMAP_ATOL


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"GIF89a not a picture", "image/gif"),
        (b'{"instances": [[[1, 2, 3]]]}', "application/json"),
        (b"{not json", "application/json"),
    ],
)
def test_bad_inputs_get_the_same_4xx_as_predict(client, content, content_type):
    headers = {"content-type": content_type}
    explained = client.post("/v1/classification/explain", content=content, headers=headers)
    predicted = client.post("/v1/classification/predict", content=content, headers=headers)
    assert 400 <= explained.status_code < 500
    assert explained.status_code == predicted.status_code
    assert explained.json()["error"] == predicted.json()["error"]


def test_an_unexplained_task_and_an_unknown_output_are_refused(client):
    assert client.post("/v1/segmentation/explain", content=b"x").status_code == 404
    request = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, 32, 32, 3], "data": [0.0] * 3072}
        ],
        "outputs": [{"name": "output"}],
    }
    reply = client.post(f"/v2/models/{NAME}-explain/infer", json=request)
    assert reply.status_code == 422 and "heatmap" in reply.json()["error"]


def test_the_demo_draws_the_served_heatmaps(client, exported, tmp_path):
    from kiln.demo.client import serve_images
    from kiln.demo.run import plot_heatmaps

    images = list(exported[3]) * 4
    served = serve_images(str(client.base_url), "classification", images, CLASS_NAMES)
    path, heading = plot_heatmaps(tmp_path, str(client.base_url), images, served)
    print(heading)  # the explain and predict latencies, for the notes
    assert path.name == "heatmaps.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
