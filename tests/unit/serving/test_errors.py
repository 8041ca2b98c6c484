"""Errors that tell the truth: a client's mistake is a 4xx saying what was wrong, a server
fault a 5xx that names a logged request id and echoes no internal text (issue 13)."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import logging

import numpy as np
import pytest
from PIL import Image

from kiln.errors import (
    BadRequest,
    InferenceFailed,
    IntegrityError,
    InvalidInput,
    NotFound,
    NotReady,
    PayloadTooLarge,
)
from kiln.registry import RegistryStore
from kiln.serving import media
from kiln.serving.batcher import Batcher
from kiln.serving.http import parse_version
from kiln.serving.reply import REQUEST_ID_HEADER, error_reply, fault_reply
from kiln.serving.runtime import OnnxModel
from kiln.serving.v1.formats import format_for
from kiln.serving.v2.parsing import parse_infer


def test_a_server_fault_returns_a_logged_request_id_and_no_internal_text(caplog):
    with caplog.at_level(logging.ERROR, logger="kiln.serving"):
        reply = fault_reply(RuntimeError("secret /var/lib/kiln/path"), "classification")
    body = reply.json()
    assert reply.status == 500 and body["code"] == "internal"
    assert "secret" not in reply.content.decode()
    assert reply.headers[REQUEST_ID_HEADER] == body["request_id"] in body["error"]
    assert body["request_id"] in caplog.text and "secret /var/lib/kiln/path" in caplog.text


def test_a_kiln_server_error_is_a_fault_but_not_ready_says_why():
    integrity = error_reply(IntegrityError("sha256 of /srv/registry/x does not match"))
    assert integrity.status == 500 and "/srv" not in integrity.content.decode()
    assert "request_id" in integrity.json()
    not_ready = error_reply(NotReady("the classification model is not loaded yet"))
    assert not_ready.status == 503 and "not loaded yet" in not_ready.json()["error"]
    assert "request_id" not in not_ready.json()


def test_a_model_that_fails_on_a_checked_input_is_a_server_fault(registry, tiny):
    loaded = RegistryStore(registry).load(tiny.NAMES["classification"], 1)
    model = OnnxModel.build(loaded.manifest, loaded.onnx_bytes, 1)
    batcher = Batcher("classification", lambda version, alone: model, 1)
    # A shape the graph refuses stands in for any fault of the runtime: onnxruntime raises.
    broken = np.zeros((1, 5, 5), dtype=np.float32)
    result = asyncio.run(batcher._run_alone(1, broken))
    assert isinstance(result, InferenceFailed) and result.status == 500
    assert not isinstance(result, InvalidInput) and result.__cause__ is not None


def test_a_version_with_a_non_ascii_digit_is_not_found():
    assert "²".isdigit()  # what let it through before: int("²") raises
    with pytest.raises(NotFound, match="not a version number"):
        parse_version("²")
    assert parse_version("12") == 12


@pytest.fixture(scope="module")
def forecaster_manifest(tiny):
    return tiny.manifest("forecasting")


def infer_body(**changes) -> bytes:
    tensor = {"name": "input", "shape": [1, 6, 3], "datatype": "FP32", "data": [0.0] * 18}
    return json.dumps({"inputs": [tensor], **changes}).encode()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (infer_body(outputs=["output"]), "list of objects"),
        (infer_body(outputs=[{"name": "output", "parameters": [1]}]), "parameters"),
        (infer_body(parameters="binary"), "parameters"),
        (
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": "input",
                            "shape": [1, 6, 3],
                            "datatype": "FP32",
                            "data": [0.0] * 18,
                            "parameters": 5,
                        }  # fmt: skip
                    ]
                }
            ).encode(),
            "parameters",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "input", "shape": [True, 6, 3], "datatype": "FP32"}]}
            ).encode(),
            "shape",
        ),
    ],
)
def test_malformed_but_parseable_v2_bodies_are_400(forecaster_manifest, body, words):
    with pytest.raises(BadRequest, match=words):
        parse_infer(body, None, forecaster_manifest)


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ([4294967296, 4294967296], "at most 64 instances"),  # the example
        ([1, 4294967296, 4294967296], "needs 18446744073709551616"),  # past the instance cap
    ],
)
def test_a_shape_whose_element_count_overflows_int64_is_refused(forecaster_manifest, shape, words):
    tensor = {"name": "input", "shape": shape, "datatype": "FP32", "data": []}
    with pytest.raises(InvalidInput, match=words):
        parse_infer(json.dumps({"inputs": [tensor]}).encode(), None, forecaster_manifest)


def test_v2_requests_are_capped_at_the_v1_instance_limit(forecaster_manifest):
    tensor = {"name": "input", "shape": [65, 6, 3], "datatype": "FP32", "data": [0.0] * 65 * 18}
    with pytest.raises(InvalidInput, match="at most 64 instances per request, got 65"):
        parse_infer(json.dumps({"inputs": [tensor]}).encode(), None, forecaster_manifest)


def test_the_pixel_budget_holds_for_all_the_images_of_a_request(tiny):
    def png(side: int) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (side, side)).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    # Each image alone is under the per-request limit; three of them together are over it.
    side = int((media.MAX_PIXELS / 2.5) ** 0.5)
    body = json.dumps({"instances": [png(side)] * 3}).encode()
    with pytest.raises(PayloadTooLarge, match="all its images together"):
        format_for(tiny.manifest("classification")).parse(body, "application/json")


def test_a_csv_field_over_the_csv_module_limit_is_400(forecaster_manifest):
    text = "T (degC)\n" + "1" * (csv.field_size_limit() + 1) + "\n"
    with pytest.raises(BadRequest, match="field"):
        format_for(forecaster_manifest).parse(text.encode(), "text/csv")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM"])
def test_other_image_formats_are_refused_without_asking_their_decoders(fmt):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buffer, format=fmt)
    with pytest.raises(BadRequest, match="PNG or JPEG"):
        media.decode_image(buffer.getvalue(), 8, 8, 3)


def test_a_truncated_png_is_a_bad_request():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="PNG")
    with pytest.raises(BadRequest, match="could not be decoded"):
        media.decode_image(buffer.getvalue()[:-40], 8, 8, 3)
