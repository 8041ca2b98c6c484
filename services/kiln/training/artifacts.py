"""The run's artifacts, written by the driver from the final checkpoint once training is done.

The best model is evaluated on the test split here, in the driver, outside any distribution
strategy: one process, the whole test split, no collectives to keep in step. Each file is
written to local scratch first and then copied into the run whole.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from kiln.runs import BEST_MODEL_FILE, CONFUSION_FILE, CURVES_FILE, SAMPLE_FILE, RunDir
from kiln.training import plots
from kiln.training.checkpointing import RunState
from kiln.training.config import TrainConfig
from kiln.training.evaluation import evaluate, validation_sample


def write_artifacts(
    config: TrainConfig, run: RunDir, scratch: Path, state: RunState, splits: Any
) -> dict[str, Any]:
    """Write metrics.json, the plots and validation_sample.npz; return the evaluation."""
    import keras

    run.write_metrics(state.history)
    curves = scratch / CURVES_FILE
    plots.learning_curves(state.history, curves, title=f"{config.task} · {config.model}")
    run.upload(curves, CURVES_FILE)
    model = keras.models.load_model(run.download(BEST_MODEL_FILE, scratch / BEST_MODEL_FILE))
    evaluation = evaluate(model, splits.test, splits.info)
    if "confusion_matrix" in evaluation:
        confusion = scratch / CONFUSION_FILE
        plots.confusion_matrix(evaluation["confusion_matrix"], splits.info.class_names, confusion)
        run.upload(confusion, CONFUSION_FILE)
    buffer = io.BytesIO()
    sample = validation_sample(splits.validation)
    np.savez(buffer, x=sample["x"], y=sample["y"])
    run.write_bytes(SAMPLE_FILE, buffer.getvalue())
    return evaluation
