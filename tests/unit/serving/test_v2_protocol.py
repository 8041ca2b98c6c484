"""Open Inference Protocol v2 parsing and encoding, including binary tensor data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kiln.errors import BadRequest, InvalidInput
from kiln.serving.v2 import parsing, replies, types


@pytest.fixture(scope="module")
def manifest(tiny):
    return tiny.manifest("forecasting")


def binary_request(array: np.ndarray, size: int | None = None, binary_output=True):
    head = {
        "inputs": [
            {
                "name": "input",
                "shape": list(array.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": size or array.nbytes},
            }
        ],
        "outputs": [{"name": "output", "parameters": {"binary_data": binary_output}}],
    }
    header = json.dumps(head).encode()
    return header + array.tobytes(), str(len(header))


def test_reads_binary_tensor_data_after_the_json_header(manifest):
    array = np.arange(18, dtype=np.float32).reshape(1, 6, 3)
    request = parsing.parse_infer(*binary_request(array), manifest)
    assert np.array_equal(request.tensor, array) and request.binary_output


def test_answers_in_binary_when_asked(manifest):
    array = np.zeros((2, 6, 3), dtype=np.float32)
    request = parsing.parse_infer(*binary_request(array), manifest)
    reply = replies.infer_reply(request, manifest, np.array([[1.5], [2.5]], dtype=np.float32))
    size = int(reply.headers[types.HEADER_LENGTH])
    head = json.loads(reply.content[:size])
    assert head["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert np.frombuffer(reply.content[size:], dtype=np.float32).tolist() == [1.5, 2.5]


def test_refuses_a_binary_size_that_does_not_match_the_body(manifest):
    array = np.zeros((1, 6, 3), dtype=np.float32)
    body, length = binary_request(array, size=999)
    with pytest.raises(BadRequest, match="binary_data_size"):
        parsing.parse_infer(body, length, manifest)


def test_refuses_a_header_length_beyond_the_body(manifest):
    with pytest.raises(BadRequest, match="Inference-Header-Content-Length"):
        parsing.parse_infer(b"{}", "50", manifest)


@pytest.mark.parametrize(
    ("tensor", "error", "words"),
    [
        ({"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, InvalidInput, "'input'"),
        (
            {"name": "input", "shape": [1, 6, 3], "datatype": "FP64", "data": [0] * 18},
            InvalidInput,
            "FP32",
        ),
        (
            {"name": "input", "shape": [1, 6, 3], "datatype": "FP32", "data": [0] * 5},
            InvalidInput,
            "needs 18",
        ),
        ({"name": "input", "shape": "1,6,3", "datatype": "FP32", "data": []}, BadRequest, "shape"),
        (
            {"name": "input", "shape": [1, 6, 3], "datatype": "FP32", "data": ["a"] * 18},
            InvalidInput,
            "numbers",
        ),
    ],
)
def test_refuses_malformed_tensors(manifest, tensor, error, words):
    with pytest.raises(error, match=words):
        parsing.parse_infer(json.dumps({"inputs": [tensor]}).encode(), None, manifest)


def test_refuses_an_unknown_requested_output(manifest):
    body = {
        "inputs": [{"name": "input", "shape": [1, 6, 3], "datatype": "FP32", "data": [0] * 18}],
        "outputs": [{"name": "logits"}],
    }
    with pytest.raises(InvalidInput, match="unknown output"):
        parsing.parse_infer(json.dumps(body).encode(), None, manifest)


def test_metadata_lists_tensors_in_protocol_types(manifest):
    metadata = replies.model_metadata(manifest, [1, 3])
    assert metadata["versions"] == ["1", "3"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 6, 3]}]
