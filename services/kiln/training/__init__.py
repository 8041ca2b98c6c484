"""Distributed training on Ray Train (MultiWorkerMirroredStrategy inside each worker when there
are two or more; one worker trains under TensorFlow's default strategy).

TF-free and Ray-free at import: ``train`` and ``resume`` load the driver only when called.
``train(TrainConfig(...)) -> RunResult`` is what ``kiln train`` and ``kiln demo`` call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.training.config import TrainConfig, load_config, preflight

if TYPE_CHECKING:
    from kiln.training.driver import RunResult

__all__ = ["TrainConfig", "load_config", "preflight", "resume", "train"]


def train(config: TrainConfig, **options: Any) -> RunResult:
    """Train a new run; see ``kiln.training.driver.train``."""
    from kiln.training.driver import train as run_training

    return run_training(config, **options)


def resume(run_uri: str | Path, **options: Any) -> RunResult:
    """Continue an interrupted run from its last checkpoint; see ``kiln.training.driver``."""
    from kiln.training.driver import resume as resume_training

    return resume_training(run_uri, **options)
