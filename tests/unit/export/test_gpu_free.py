"""Conversion never sees a GPU, and the TF-free parts of export stay TF-free."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiln.errors import ParityError
from kiln.export.config import ExportConfig


def _run(code: str) -> str:
    env = {"PATH": "/usr/bin:/bin"}  # no CUDA_VISIBLE_DEVICES inherited from the test session
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_hide_gpus_sets_the_variable_before_tensorflow_is_imported():
    out = _run(
        "import os, sys\n"
        "from kiln.export.gpu import hide_gpus\n"
        "print(hide_gpus(), repr(os.environ['CUDA_VISIBLE_DEVICES']), 'tensorflow' in sys.modules)"
    )
    assert out.split() == ["True", "''", "False"]


@pytest.mark.parametrize(
    "module",
    [
        "kiln.export",
        "kiln.export.config",
        "kiln.export.run_reader",
        "kiln.runs",
        "kiln.export.describe",
        "kiln.commands.export",
        "kiln.commands.models",
    ],
)
def test_tf_free_export_modules_import_no_tensorflow(module):
    out = _run(
        f"import sys, {module}; print(sorted({{'tensorflow', 'keras', 'tf2onnx'}} & set(sys.modules)))"
    )
    assert out.strip() == "[]"


def test_the_gpu_free_child_process_refuses_with_the_same_error_class(segmentation_run, tmp_path):
    """The fallback used when the caller's TensorFlow already holds a GPU: a fresh interpreter
    with CUDA_VISIBLE_DEVICES="" runs the export and hands back the manifest or the error (one
    child only, for the budget: the refusal exercises the whole round trip)."""
    from kiln.export.pipeline import _export_in_child

    config = ExportConfig(
        run_dir=str(segmentation_run), registry=str(tmp_path / "registry"), name="child"
    )
    with pytest.raises(ParityError, match=r"\(GPU-free export process\) child: .* tolerance 1e-12"):
        _export_in_child(config.model_copy(update={"atol": 1e-12}))
    assert not (tmp_path / "registry" / "child").exists()
