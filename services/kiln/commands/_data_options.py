"""The data flags `kiln train` and `kiln data inspect` share: they fill ``LoadOptions``
(``kiln.data.info``), whose docstring says what each does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kiln.tasks import LAYOUTS

F = TypeVar("F", bound=Callable[..., Any])

# (flag, LoadOptions field, click keyword arguments)
FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "--preset",
        "layout",
        {
            "type": click.Choice(list(LAYOUTS)),
            "help": "Read the data as this layout (e.g. jena) instead of detecting it.",
        },
    ),
    (
        "--image-size",
        "image_size",
        {"type": click.IntRange(1, 8192), "help": "Resize images to this square side."},
    ),
    ("--time-column", "time_column", {"help": "The time column (default: detected)."}),
    ("--target", "target_column", {"help": "The column to forecast (Jena: T (degC))."}),
    (
        "--features",
        "features",
        {"help": "Comma-separated feature columns (default: every numeric column)."},
    ),
    ("--window", "window", {"help": "Window length as a duration, e.g. 5d."}),
    ("--step", "step", {"help": "Sampling step inside a window, e.g. 1h."}),
    ("--horizon", "horizon", {"help": "How far ahead to forecast, e.g. 24h or 30min."}),
    (
        "--gaps",
        "gaps",
        {
            "type": click.Choice(["split", "fill", "refuse"]),
            "help": "Gaps in the time column: split into segments (default), fill up to "
            "--max-fill rows, or refuse.",
        },
    ),
    ("--max-fill", "max_fill", {"type": int, "help": "Most missing rows to interpolate (3)."}),
    (
        "--duplicates",
        "duplicates",
        {
            "type": click.Choice(["refuse", "first", "last", "mean"]),
            "help": "Rows sharing a timestamp: refuse (default) or keep one.",
        },
    ),
    (
        "--sentinel",
        "sentinels",
        {"type": float, "multiple": True, "help": "A value meaning missing (default -9999)."},
    ),
]


def data_flags(func: F) -> F:
    """Add the data flags to a command; they arrive as keyword arguments named by field."""
    for flag, field, kwargs in reversed(FLAGS):
        func = click.option(flag, field, default=None, **kwargs)(func)
    return func


def data_options(flags: dict[str, Any]) -> dict[str, Any]:
    """Pop the data flags from a command's keyword arguments: the LoadOptions fields given."""
    given: dict[str, Any] = {}
    for _, field, _ in FLAGS:
        value = flags.pop(field, None)
        if value is None or value == ():
            continue
        if field == "image_size":
            value = (value, value)
        elif field == "features":
            value = [name.strip() for name in value.split(",") if name.strip()]
        given[field] = list(value) if isinstance(value, tuple) and field != "image_size" else value
    return given
