"""Shared configuration pieces, TF-free. Each stage owns its own typed config model
(``kiln.training.config``, ``kiln.export.config``, ``kiln.serving.config``); this module holds
what they share: the task names (from the vocabulary, ``kiln.tasks``), the environment read at
entry points, and file loading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kiln.errors import ConfigError
from kiln.tasks import TASKS, Task

__all__ = [
    "MODEL_NAME_PATTERN",
    "TASKS",
    "Task",
    "load_yaml",
    "ray_address",
    "registry_uri",
    "validate",
]

# A registered model's name: a registry directory, a Serve deployment's model and a CR's
# modelName (the CRDs carry the same pattern; a unit test keeps them equal).
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

DEFAULT_REGISTRY = "kiln-registry"
DEFAULT_RUNS_DIR = "kiln-runs"

ModelT = TypeVar("ModelT", bound=BaseModel)


def registry_uri(explicit: str | None = None) -> str:
    """The registry to use: the flag, else ``KILN_REGISTRY``, else ``./kiln-registry``.

    Call only from entry points (CLI, app builders); request paths get the value passed down.
    """
    return explicit or os.environ.get("KILN_REGISTRY") or DEFAULT_REGISTRY


def ray_address(explicit: str | None = None) -> str | None:
    """The Ray cluster to join: the flag, else ``RAY_ADDRESS``, else None (start a local Ray)."""
    return explicit or os.environ.get("RAY_ADDRESS") or None


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: where it is, what was wrong, what was given."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        given = item.get("input")
        lines.append(f"{where}: {item['msg']} (got {given!r})")
    return "; ".join(lines)


def validate(model: type[ModelT], data: dict, source: str = "config") -> ModelT:
    """Validate ``data`` into ``model`` or raise a ConfigError that names every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"invalid {source}: {format_validation_error(e)}") from e


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping from ``path`` with errors that name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"config file {path} does not exist") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of keys, got {type(data).__name__}"
        )
    return data
