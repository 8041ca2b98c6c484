"""Small helpers every command uses: turning Kiln errors into a clean exit."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kiln.errors import KilnError

F = TypeVar("F", bound=Callable[..., Any])


def kiln_errors(func: F) -> F:
    """Print a KilnError as one red line on stderr and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KilnError as e:
            click.secho(f"error: {e.message}", fg="red", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
