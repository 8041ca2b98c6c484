"""Export a training run to ONNX, prove parity with Keras, and register it.

This ``__init__`` stays TF-free (INTERFACES.md): ``export_run`` imports the TensorFlow side only
when it is called. The conversion must happen in a process that sees no GPU — on a GPU an LSTM
is traced as ``CudnnRNNV3``, which tf2onnx cannot convert — so ``export_run`` hides the GPUs
before TensorFlow is first imported, and re-runs itself in a GPU-free child process when the
caller had already initialised TensorFlow with a GPU (see ``kiln.export.pipeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.export.config import DEFAULT_ATOL, DEFAULT_OPSET, ExportConfig

if TYPE_CHECKING:
    from kiln.registry import Manifest

__all__ = ["DEFAULT_ATOL", "DEFAULT_OPSET", "ExportConfig", "export_run"]


def export_run(
    run_dir: str | Path,
    registry_uri: str,
    name: str | None = None,
    opset: int = DEFAULT_OPSET,
    atol: float = DEFAULT_ATOL,
    explain: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Manifest:
    """Convert ``run_dir``'s best checkpoint to ONNX, gate it on parity, register it.

    Returns the manifest as stored (with its version). Raises ``ParityError`` when onnxruntime
    and Keras disagree by more than ``atol``, ``NotFound``/``DataError`` for a missing or
    incomplete run directory; nothing is registered in either case. A classifier also gets its
    Grad-CAM graph (``explain``), gated the same way.
    """
    from kiln.config import validate
    from kiln.export.pipeline import run_export

    config = validate(
        ExportConfig,
        {
            "run_dir": str(run_dir),
            "registry": registry_uri,
            "name": name,
            "opset": opset,
            "atol": atol,
            "explain": explain,
        },
        source="export options",
    )
    return run_export(config, progress=progress)
