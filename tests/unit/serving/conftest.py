"""A real registry holding tiny ONNX models for every task (see tiny_models.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "tiny_models", Path(__file__).with_name("tiny_models.py")
)
assert _spec and _spec.loader
tiny_models = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("tiny_models", tiny_models)
_spec.loader.exec_module(tiny_models)


@pytest.fixture(scope="session")
def tiny():
    return tiny_models


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> str:
    return tiny_models.populate(tmp_path_factory.mktemp("registry"))
