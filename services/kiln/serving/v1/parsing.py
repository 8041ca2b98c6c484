"""What every ``/v1`` task format shares: the media type, JSON bodies, the ``instances`` list and
the base class each task's format fills in.

A format turns one request body into a model-ready batch ``(n, ...)`` (validating shape, value
range and window as it goes) and the model's output back into a readable answer. Nothing here
runs the model, so every check happens per request, before the batcher: one bad request never
spoils the batch it would have joined.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from kiln.errors import BadRequest, InvalidInput
from kiln.registry import Manifest
from kiln.serving import media
from kiln.serving.inputs import MAX_INSTANCES
from kiln.serving.reply import Reply


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from e


def instances_of(payload: Any, single_key: str) -> list[Any]:
    """``{"instances": [...]}`` or a one-instance shorthand ``{single_key: ...}``."""
    if isinstance(payload, dict) and "instances" in payload:
        items = payload["instances"]
    elif isinstance(payload, dict) and single_key in payload:
        items = [payload[single_key]]
    else:
        raise InvalidInput(f'expected a JSON object with "instances" (a list) or "{single_key}"')
    if not isinstance(items, list) or not items:
        raise InvalidInput('"instances" must be a non-empty list')
    if len(items) > MAX_INSTANCES:
        raise InvalidInput(f"at most {MAX_INSTANCES} instances per request, got {len(items)}")
    return items


class TaskFormat:
    """One task's ``/v1`` request and answer format, driven by a model's manifest."""

    # How the OpenAPI document describes the request body and the answer of the task's route.
    request_body: ClassVar[dict[str, Any]]
    answer_model: ClassVar[type[BaseModel]]
    # Media types the answer may also come in, besides JSON.
    answer_media: ClassVar[tuple[str, ...]] = ()
    # Whether the task also has ``POST /v1/{task}/explain`` (a heatmap beside the answer).
    explainable: ClassVar[bool] = False

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def parse(
        self, body: bytes, content_type: str, pixel_limit: int = media.MAX_PIXELS
    ) -> np.ndarray:
        """The request's model input; ``pixel_limit``: the most image pixels it may decode
        (``PayloadTooLarge`` past it, raised from the images' headers before decoding)."""
        raise NotImplementedError

    def answer(self, outputs: np.ndarray, accept: str) -> Reply:
        raise NotImplementedError
