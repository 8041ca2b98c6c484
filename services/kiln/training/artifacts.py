"""The run's artifacts, written by the driver from the final checkpoint once training is done.

The best model is evaluated on the test split here, in the driver, outside any distribution
strategy: one process, the whole test split, no collectives to keep in step.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from kiln.training import plots
from kiln.training.checkpointing import RunState
from kiln.training.config import TrainConfig
from kiln.training.evaluation import evaluate, validation_sample
from kiln.training.rundir import (
    BEST_MODEL_FILE,
    CONFUSION_FILE,
    CURVES_FILE,
    SAMPLE_FILE,
    RunDir,
    write_atomically,
)


def write_artifacts(
    config: TrainConfig, run: RunDir, state: RunState, splits: Any
) -> dict[str, Any]:
    """Write metrics.json, the plots and validation_sample.npz; return the evaluation."""
    import keras

    run.write_metrics(state.history)
    plots.learning_curves(
        state.history, run.path(CURVES_FILE), title=f"{config.task} · {config.model}"
    )
    model = keras.models.load_model(run.path(BEST_MODEL_FILE))
    evaluation = evaluate(model, splits.test, splits.info)
    if "confusion_matrix" in evaluation:
        plots.confusion_matrix(
            evaluation["confusion_matrix"], splits.info.class_names, run.path(CONFUSION_FILE)
        )
    buffer = io.BytesIO()
    sample = validation_sample(splits.validation)
    np.savez(buffer, x=sample["x"], y=sample["y"])
    write_atomically(run.path(SAMPLE_FILE), buffer.getvalue())
    return evaluation
