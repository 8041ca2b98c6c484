"""`kiln predict`: send a file to a running server and print a readable answer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kiln.commands._common import kiln_errors
from kiln.errors import BadRequest, KilnError, NotReady
from kiln.serving.config import AUTH_TOKEN_ENV
from kiln.tasks import TASKS

TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv",
    ".json": "application/json",
}
# A Jena CSV can be years of rows; the server uses only the last window, so send a tail.
CSV_TAIL_ROWS = 2000


def read_body(path: Path) -> tuple[bytes, str]:
    kind = TYPES.get(path.suffix.lower())
    if kind is None:
        raise BadRequest(f"{path}: unknown file type; expected one of {sorted(TYPES)}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadRequest(f"cannot read {path}: {e}") from e
    if kind == "text/csv":
        lines = data.decode("utf-8", errors="replace").splitlines()
        data = "\n".join(lines[:1] + lines[1:][-CSV_TAIL_ROWS:]).encode()
    return data, kind


def _describe_label(prefix: str, prediction: dict[str, Any], _: Path | None) -> list[str]:
    ranked = sorted(prediction["probabilities"].items(), key=lambda kv: -kv[1])
    others = ", ".join(f"{k} {v:.1%}" for k, v in ranked[1:4])
    return [
        f"{prefix}{prediction['label']} ({prediction['probability']:.1%})"
        + (f"  — then {others}" if others else "")
    ]


def _describe_mask(prefix: str, prediction: dict[str, Any], target: Path | None) -> list[str]:
    shares = ", ".join(f"{k} {v:.1%}" for k, v in prediction["shares"].items())
    lines = [f"{prefix}mask {prediction['width']}x{prediction['height']}: {shares}"]
    if target is not None:
        target.write_bytes(base64.b64decode(prediction["mask_png"]))
        lines.append(f"{prefix}mask written to {target} (pixel value = class index)")
    return lines


def _describe_value(prefix: str, prediction: dict[str, Any], _: Path | None) -> list[str]:
    return [
        f"{prefix}{prediction['target']} {prediction['horizon_hours']:g} h after "
        f"the window: {prediction['value']:.2f} {prediction['unit']}"
    ]


# How each task's answer reads: (prefix, one prediction, where to write a mask) -> lines.
DESCRIBE: dict[str, Callable[[str, dict[str, Any], Path | None], list[str]]] = {
    "segmentation": _describe_mask,
    "classification": _describe_label,
    "forecasting": _describe_value,
}


def describe(task: str, answer: dict[str, Any], mask_out: Path | None) -> list[str]:
    lines = []
    predictions = answer["predictions"]
    for i, prediction in enumerate(predictions):
        prefix = f"[{i}] " if len(predictions) > 1 else ""
        target = mask_out
        if mask_out is not None and len(predictions) > 1:
            target = mask_out.with_stem(f"{mask_out.stem}-{i}")
        lines += DESCRIBE[task](prefix, prediction, target)
    return lines


@click.command(context_settings={"show_default": True})
@click.option("--task", required=True, type=click.Choice(TASKS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default="http://127.0.0.1:8000", help="The server `kiln serve` started.")
@click.option("--token", envvar=AUTH_TOKEN_ENV, help=f"Bearer token (default: ${AUTH_TOKEN_ENV}).")
@click.option(
    "--mask-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Segmentation: write the predicted mask PNG here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.option("--timeout", default=60.0, help="Seconds to wait for the answer.")
@kiln_errors
def predict(
    task: str,
    file: Path,
    url: str,
    token: str | None,
    mask_out: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Send FILE (PNG/JPEG image, Jena CSV, or a JSON body) to /v1/TASK/predict.

    \b
    Examples:
      kiln predict --task classification cat.jpg
      kiln predict --task segmentation pet.jpg --mask-out mask.png
      kiln predict --task forecasting jena_climate_2009_2016.csv
    """
    import httpx

    body, kind = read_body(file)
    headers = {"content-type": kind}
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        reply = httpx.post(
            f"{url.rstrip('/')}/v1/{task}/predict",
            content=body,
            headers=headers,
            timeout=timeout,
        )
    except httpx.HTTPError as e:
        raise NotReady(f"no answer from {url}: {e} (is `kiln serve` running?)") from e
    try:
        answer = reply.json()
    except json.JSONDecodeError as e:
        raise KilnError(
            f"{url} answered {reply.status_code} without JSON: {reply.text[:200]}"
        ) from e
    if reply.status_code != 200:
        raise KilnError(f"{reply.status_code}: {answer.get('error', answer)}")
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    version = reply.headers.get("x-kiln-model-version", "?")
    click.echo(f"{task} (model version {version}):")
    for line in describe(task, answer, mask_out):
        click.echo(f"  {line}")
