"""``POST /v1/{task}/explain`` answers: the prediction with its Grad-CAM heatmap.

Same inputs as predict. One image, and a client that accepts ``image/png`` without asking for
JSON, gets the overlay PNG itself with the label in headers; otherwise the answer is JSON, each
prediction carrying the raw low-resolution map (``heatmap``) and the overlay as base64 PNG.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from kiln.errors import NotFound
from kiln.heatmap import overlay_png
from kiln.serving.reply import Reply, json_reply
from kiln.serving.v1.images import ClassificationFormat
from kiln.serving.v1.parsing import TaskFormat

LABEL_HEADER = "X-Kiln-Label"
PROBABILITY_HEADER = "X-Kiln-Probability"
PROBABILITIES_HEADER = "X-Kiln-Probabilities"
LAYER_HEADER = "X-Kiln-Heatmap-Layer"


def explainable(task_format: TaskFormat) -> ClassificationFormat:
    """The format, if its task has explanations (a class to explain); else NotFound."""
    if not isinstance(task_format, ClassificationFormat):
        raise NotFound(f"{task_format.manifest.task} models have no /explain route")
    return task_format


def wants_png(accept: str, count: int) -> bool:
    accept = accept.lower()
    return count == 1 and "image/png" in accept and "application/json" not in accept


def explain_answer(
    task_format: ClassificationFormat,
    pixels: np.ndarray,
    maps: np.ndarray,
    probabilities: np.ndarray,
    layer: str,
    accept: str,
) -> Reply:
    """The answer for ``pixels`` (n, h, w, c of 0..255), their ``maps`` (n, h', w') and the
    graph's ``probabilities`` (n, classes)."""
    labelled = task_format.labelled(probabilities.astype(np.float64))
    pictures = [overlay_png(image, heat) for image, heat in zip(pixels, maps, strict=True)]
    if wants_png(accept, len(pictures)):
        head = labelled[0]
        headers = {
            LABEL_HEADER: ascii_header(head["label"]),
            PROBABILITY_HEADER: str(head["probability"]),
            PROBABILITIES_HEADER: json.dumps(head["probabilities"], separators=(",", ":")),
            LAYER_HEADER: ascii_header(layer),
        }
        return Reply(200, pictures[0], "image/png", headers)
    predictions = [
        {
            **item,
            "heatmap": np.round(heat.astype(np.float64), 6).tolist(),
            "layer": layer,
            "overlay_png": base64.b64encode(picture).decode(),
        }
        for item, heat, picture in zip(labelled, maps, pictures, strict=True)
    ]
    return json_reply({"predictions": predictions})


def ascii_header(text: str) -> str:
    """HTTP header values are ASCII; a class name beyond it keeps its escapes (JSON has it whole)."""
    return text.encode("ascii", "backslashreplace").decode()
