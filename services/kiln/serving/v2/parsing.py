"""Parsing an OIP v2 inference request, including the binary tensor data extension
(``Inference-Header-Content-Length``), as stock clients send it."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from kiln.errors import BadRequest, InvalidInput
from kiln.registry import Manifest
from kiln.serving.inputs import MAX_INSTANCES
from kiln.serving.v2.types import DATATYPES, HEADER_LENGTH, TO_DATATYPE, ParsedInfer


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON header of a request and the binary tensor data that follows it, if any."""
    if header_length is None:
        head, rest = body, b""
    else:
        try:
            size = int(header_length)
        except ValueError as e:
            raise BadRequest(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from e
        if not 0 <= size <= len(body):
            raise BadRequest(f"{HEADER_LENGTH} is {size} but the body has {len(body)} bytes")
        head, rest = body[:size], body[size:]
    try:
        return json.loads(head), rest
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"the inference request header is not valid JSON: {e}") from e


def parse_infer(body: bytes, header_length: str | None, manifest: Manifest) -> ParsedInfer:
    payload, binary = split_body(body, header_length)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise BadRequest('an inference request is a JSON object with an "inputs" list')
    want = manifest.inputs[0]
    if len(payload["inputs"]) != 1:
        raise InvalidInput(f"the model takes exactly one input, {want.name!r}")
    spec = payload["inputs"][0]
    if not isinstance(spec, dict) or spec.get("name") != want.name:
        got = spec.get("name") if isinstance(spec, dict) else spec
        raise InvalidInput(f"unknown input {got!r}; the model's input is {want.name!r}")
    shape, datatype = spec.get("shape"), spec.get("datatype")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(f'"shape" must be a list of non-negative integers, got {shape!r}')
    if shape and shape[0] > MAX_INSTANCES:
        raise InvalidInput(f"at most {MAX_INSTANCES} instances per request, got {shape[0]}")
    expected = TO_DATATYPE.get(want.dtype, "FP32")
    if datatype != expected:
        raise InvalidInput(f"input datatype {datatype!r} does not match the model's {expected!r}")
    if not isinstance(payload.get("id", ""), str):
        raise BadRequest(f'"id" must be a string, got {payload["id"]!r}')
    binary_output, requested = wants_binary(payload, manifest)
    return ParsedInfer(
        id=payload.get("id"),
        tensor=tensor_of(spec, shape, datatype, binary),
        binary_output=binary_output,
        requested=requested,
    )


def tensor_of(spec: dict[str, Any], shape: list[int], datatype: str, binary: bytes) -> np.ndarray:
    """The input's values: its binary data when ``binary_data_size`` says so, else its JSON
    ``data``, either way holding exactly ``shape``'s element count."""
    dtype = DATATYPES[datatype]
    count = math.prod(shape)  # Python integers: a shape cannot overflow into a small count
    parameters = object_or_empty(spec.get("parameters"), '"parameters" of the input')
    if "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or size != len(binary):
            raise BadRequest(
                f"binary_data_size is {size!r} but {len(binary)} bytes follow the JSON header"
            )
        if size != count * np.dtype(dtype).itemsize:
            raise InvalidInput(
                f"{size} bytes of binary data do not hold a {datatype} tensor of shape {shape}"
            )
        return np.frombuffer(binary, dtype=dtype).reshape(shape)
    try:
        array = np.asarray(spec.get("data"), dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f'"data" must be numbers of datatype {datatype}: {e}') from e
    if array.size != count:
        raise InvalidInput(f'"data" holds {array.size} values; shape {shape} needs {count}')
    return array.reshape(shape)


def object_or_empty(value: Any, what: str) -> dict[str, Any]:
    """An optional JSON object of the protocol (``parameters``), refusing any other JSON type."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def wants_binary(payload: dict[str, Any], manifest: Manifest) -> tuple[bool, list[str] | None]:
    """``(binary, requested)``: whether the answer carries its tensors as binary data, asked for
    the whole request (``parameters.binary_data_output``) or per requested output
    (``parameters.binary_data``); and the outputs the client named (None: every output)."""
    outputs = payload.get("outputs")
    known = [spec.name for spec in manifest.outputs]
    request_parameters = object_or_empty(payload.get("parameters"), 'the request\'s "parameters"')
    if outputs is None:
        return flag(request_parameters, "binary_data_output"), None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise BadRequest('"outputs" must be a list of objects such as {"name": "output"}')
    binary, requested = False, []
    for output in outputs:
        if output.get("name") not in known:
            raise InvalidInput(
                f"unknown output {output.get('name')!r}; the model's outputs are {known}"
            )
        requested.append(output["name"])
        parameters = object_or_empty(output.get("parameters"), '"parameters" of an output')
        binary = flag(parameters, "binary_data") or binary
    return binary, requested or None


def flag(parameters: dict[str, Any], name: str) -> bool:
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f'the "{name}" parameter must be true or false, got {value!r}')
    return value
