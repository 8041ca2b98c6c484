"""Request decoding and answer encoding, per task, straight from the manifest (no Ray)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from kiln.errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from kiln.serving import media
from kiln.serving.v1 import types
from kiln.serving.v1.formats import format_for


@pytest.fixture(scope="module")
def classification(tiny):
    return format_for(tiny.manifest("classification"))


@pytest.fixture(scope="module")
def forecasting(tiny):
    return format_for(tiny.manifest("forecasting"))


def test_decodes_and_resizes_an_image_to_the_model_size(classification, tiny):
    batch = classification.parse(tiny.png((10, 20, 30), size=100), "image/png")
    assert batch.shape == (1, 32, 32, 3) and batch.dtype == np.float32
    assert batch[0, 0, 0].tolist() == [10.0, 20.0, 30.0]


def test_a_greyscale_model_gets_one_channel(tiny):
    manifest = tiny.manifest("classification").model_copy(
        update={
            "preprocessing": tiny.manifest("classification").preprocessing.model_copy(
                update={"channels": 1, "channel_order": "L"}
            )
        }
    )
    batch = format_for(manifest).parse(tiny.png((255, 255, 255)), "image/png")
    assert batch.shape == (1, 32, 32, 1) and batch.max() == 255.0


def test_refuses_a_decompression_bomb_as_too_large():
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, format="PNG")  # 48 Mpx, a few KB compressed
    with pytest.raises(PayloadTooLarge):
        media.decode_image(buffer.getvalue(), 32, 32, 3)


@pytest.mark.parametrize("text", ["%%%not base64", "data:image/png;base64,!!!"])
def test_refuses_broken_base64(classification, text):
    with pytest.raises(BadRequest, match="not valid base64"):
        classification.parse(json.dumps({"instances": [text]}).encode(), "application/json")


def test_accepts_a_data_url(classification, tiny):
    url = "data:image/png;base64," + base64.b64encode(tiny.png((1, 2, 3))).decode()
    batch = classification.parse(json.dumps({"instances": [url]}).encode(), "application/json")
    assert batch.shape == (1, 32, 32, 3)


def test_refuses_ragged_lists_and_too_many_instances(classification, tiny):
    with pytest.raises(InvalidInput, match="regular shape"):
        classification.parse(b'{"instances": [[[1, 2], [3]]]}', "application/json")
    many = json.dumps({"instances": ["x"] * 65}).encode()
    with pytest.raises(InvalidInput, match="at most 64"):
        classification.parse(many, "application/json")


def test_refuses_an_unknown_media_type(forecasting):
    with pytest.raises(UnsupportedMediaType, match="text/csv"):
        forecasting.parse(b"x", "image/png")


def test_forecast_window_is_subsampled_and_normalised(forecasting, tiny):
    rows = tiny.rows(9.0, count=20)  # more rows than needed: the last 11 are used
    for i, row in enumerate(rows):
        row["T (degC)"] = float(i)
    window = forecasting.parse(json.dumps({"rows": rows}).encode(), "application/json")
    assert window.shape == (1, 6, 3)
    used = np.arange(9, 20, 2, dtype=np.float64)  # rows 9, 11, ..., 19
    assert np.allclose(window[0, :, 1], (used - tiny.MEANS[1]) / tiny.STDS[1], atol=1e-6)


def test_forecast_refuses_a_missing_value_in_a_later_row(forecasting, tiny):
    rows = tiny.rows(1.0)
    del rows[-1]["rh (%)"]
    with pytest.raises(InvalidInput, match="rh"):
        forecasting.parse(json.dumps({"rows": rows}).encode(), "application/json")


def test_answers_match_their_documented_schemas(tiny):
    classifier = format_for(tiny.manifest("classification"))
    answer = classifier.answer(np.array([[0.9, 0.1]], dtype=np.float32), "").json()
    types.ClassificationAnswer.model_validate(answer)
    assert answer["predictions"][0]["label"] == "cat"
    segmenter = format_for(tiny.manifest("segmentation"))
    scores = np.zeros((1, 16, 16, 3), dtype=np.float32)
    scores[..., 2] = 1.0
    types.SegmentationAnswer.model_validate(segmenter.answer(scores, "").json())
    forecaster = format_for(tiny.manifest("forecasting"))
    types.ForecastAnswer.model_validate(
        forecaster.answer(np.array([[3.25]], dtype=np.float32), "").json()
    )


def test_a_single_sigmoid_unit_becomes_two_probabilities(classification):
    probabilities = classification.probabilities(np.array([[0.8]], dtype=np.float32))
    assert probabilities[0].tolist() == pytest.approx([0.2, 0.8])


def test_logits_are_turned_into_probabilities(classification):
    probabilities = classification.probabilities(np.array([[2.0, -1.0]], dtype=np.float32))
    assert probabilities.sum() == pytest.approx(1.0) and probabilities[0, 0] > 0.9


def test_openapi_lists_a_version_parameter_only_on_versioned_routes(tiny):
    from kiln.serving.api import build_api
    from kiln.serving.auth import BearerAuth
    from kiln.serving.dataplane import DataPlane

    class NoTask:  # building the routes calls nothing on a task
        pass

    plane = DataPlane({"classification": NoTask()}, {})  # type: ignore[dict-item]
    document = build_api(plane, BearerAuth(None), 1024).openapi()
    plain = document["paths"]["/v2/models/{name}/infer"]["post"]["parameters"]
    versioned = document["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"][
        "parameters"
    ]
    assert [p["name"] for p in plain] == ["name"]
    assert [(p["name"], p["in"]) for p in versioned] == [("name", "path"), ("version", "path")]
