"""The package's ground rules: the CLI answers quickly, and the TF-free layers stay TF-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiln.cli import COMMANDS
from kiln.errors import (
    BadRequest,
    ConfigError,
    InvalidInput,
    KilnError,
    NotFound,
    NotReady,
    PayloadTooLarge,
    UnsupportedMediaType,
)

# Modules whose import must never pull in TensorFlow, Keras or tf2onnx (DESIGN.md): serving
# runs in a small image, and the operator must start without them.
TF_FREE_MODULES = [
    "kiln.registry",
    "kiln.storage",
    "kiln.drift.monitor",
    "kiln.drift.stats",
    "kiln.drift.summary",
    "kiln.config",
    "kiln.tasks",
    "kiln.errors",
    "kiln.cli",
    "kiln.heatmap",
]
HEAVY = ("tensorflow", "keras", "tf2onnx")


def _imported_after(module: str) -> set[str]:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", TF_FREE_MODULES)
def test_tf_free_module_imports_no_tensorflow(module):
    heavy = _imported_after(module) & set(HEAVY)
    assert not heavy, f"importing {module} pulled in {sorted(heavy)}"


def test_cli_help_lists_every_command():
    out = subprocess.run(
        [str(Path(sys.executable).parent / "kiln"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for name in COMMANDS:
        assert name in out.stdout


def test_every_command_module_exists_and_exposes_its_command():
    import importlib

    import click

    for name, (module, attribute, _) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), f"kiln {name}: {module}.{attribute}"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadRequest, 400),
        (ConfigError, 400),
        (NotFound, 404),
        (PayloadTooLarge, 413),
        (UnsupportedMediaType, 415),
        (InvalidInput, 422),
        (NotReady, 503),
    ],
)
def test_errors_carry_their_http_status(error, status):
    e = error("what was wrong; what was expected")
    assert isinstance(e, KilnError)
    assert e.status == status
    assert e.message == "what was wrong; what was expected"
