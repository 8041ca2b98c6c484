"""Bring your own image/mask pairs, end to end, with the four commands a user types: synthetic
data in the generic ``image_masks`` layout (``images/`` + ``masks/`` of class ids 0/1 and a
``classes.txt`` naming them ``background`` and ``cell``) → ``kiln data inspect`` → ``kiln
train`` on Ray Train (one worker; the forecasting test trains its user's data on two) → ``kiln
export`` → ``kiln serve`` → an image posted to ``/v1/segmentation/predict`` is answered with the
user's class names; the model beats the best constant mask, in training's evaluation and on
unseen pairs through the served API."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image
from tests.integration.byod.commands import kiln, serve

from kiln.data.synthetic_images import write_masks

pytestmark = pytest.mark.ray
CLASSES = ["background", "cell"]
SIDE = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("byod-masks")
    kiln("data", "synth", "--task", "masks", "--out", "data", "--size", "120", cwd=root)
    inspected = kiln(
        "data", "inspect", "--task", "segmentation", "data", "--image-size", str(SIDE), cwd=root
    )
    assert "image_masks layout" in inspected and "classes (2): background, cell" in inspected
    assert "class shares of the training pixels: background" in inspected
    # The demo's narrow convnet at 32x32; the model sits at the background share for a few
    # dozen steps before it finds the cells, so early stopping waits for the whole run.
    (root / "train.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "segmentation",
                "model": "segmentation_convnet",
                "data": "data",
                "model_options": {"filters": [16, 16, 32, 32]},
                "early_stopping": {"enabled": False},
            }
        )
    )
    run = kiln(
        "train",
        "--config",
        "train.yaml",
        "--image-size",
        str(SIDE),
        "--epochs",
        "4",
        "--batch-size",
        "4",
        "--workers",
        "1",
        "--out",
        "runs",
        "--run-id",
        "cells",
        "--no-tensorboard",
        "--quiet",
        cwd=root,
    )
    kiln(
        "export",
        run.strip().splitlines()[-1],
        "--registry",
        "registry",
        "--name",
        "cells",
        cwd=root,
    )
    return root


@pytest.fixture(scope="module")
def served(trained):
    yield from serve(trained, "segmentation")


def test_training_beats_the_constant_mask_and_the_manifest_names_the_users_classes(trained):
    evaluation = json.loads((trained / "runs" / "cells" / "run.json").read_text())["evaluation"]
    print(
        f"byod segmentation: test pixel accuracy {evaluation['test_pixel_accuracy']:.3f}, "
        f"constant mask {evaluation['majority_baseline_pixel_accuracy']:.3f}"
    )
    assert evaluation["test_pixel_accuracy"] > evaluation["majority_baseline_pixel_accuracy"]
    manifest = json.loads(next((trained / "registry").rglob("manifest.json")).read_text())
    assert manifest["preprocessing"]["class_names"] == CLASSES


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_is_answered_with_the_users_classes_and_beats_the_constant_mask(
    trained, served, tmp_path
):
    # Pairs the model never saw (another seed), each posted as the PNG a user would send.
    files = write_masks(tmp_path, 8, seed=99)
    images = sorted(p for p in files if p.parent.name == "images")
    served_right, constant_right, pixels = 0, 0, 0
    for image in images:
        reply = httpx.post(
            f"{served}/v1/segmentation/predict",
            content=image.read_bytes(),
            headers={"content-type": "image/png"},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        answer = reply.json()["predictions"][0]
        assert answer["classes"] == CLASSES and set(answer["shares"]) == set(CLASSES)
        predicted = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["mask_png"]))))
        with Image.open(tmp_path / "masks" / image.name) as mask:
            truth = np.asarray(mask.resize(predicted.shape[::-1], Image.Resampling.NEAREST))
        served_right += int((predicted == truth).sum())
        constant_right += int(max((truth == k).sum() for k in range(len(CLASSES))))
        pixels += truth.size
    print(
        f"served pixel accuracy {served_right / pixels:.3f}, constant {constant_right / pixels:.3f}"
    )
    assert served_right > constant_right
