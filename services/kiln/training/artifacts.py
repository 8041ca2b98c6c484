"""The run's artifacts, written by the driver from the final checkpoint once training is done.

The best model is evaluated on the test split here, in the driver, outside any distribution
strategy: one process, the whole test split, no collectives to keep in step. Each file is
written to local scratch first and then copied into the run whole.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from kiln.runs import (
    BEST_MODEL_FILE,
    CONFUSION_FILE,
    CURVES_FILE,
    SAMPLE_FILE,
    TRAINING_SAMPLE_FILE,
    RunDir,
    RunRecord,
    gather_ranks,
    now,
)
from kiln.training import plots
from kiln.training.checkpointing import RunState
from kiln.training.config import TrainConfig
from kiln.training.evaluation import evaluate, validation_sample
from kiln.training.training_sample import encode, training_sample
from kiln.training.tune_link import in_search_trial


def write_artifacts(
    config: TrainConfig,
    run: RunDir,
    scratch: Path,
    state: RunState,
    splits: Any,
    *,
    evaluate_test: bool = True,
) -> dict[str, Any]:
    """Write metrics.json, the plots, validation_sample.npz and training_sample.npz; return the
    evaluation."""
    import keras

    run.write_metrics(state.history)
    curves = scratch / CURVES_FILE
    plots.learning_curves(state.history, curves, title=f"{config.task} · {config.model}")
    run.upload(curves, CURVES_FILE)
    model = keras.models.load_model(run.download(BEST_MODEL_FILE, scratch / BEST_MODEL_FILE))
    # A search's trials leave the test split alone; `kiln tune` evaluates the chosen one.
    test = evaluate_test and not in_search_trial()
    evaluation = evaluate(model, splits.test, splits.info) if test else {}
    if "confusion_matrix" in evaluation:
        confusion = scratch / CONFUSION_FILE
        plots.confusion_matrix(evaluation["confusion_matrix"], splits.info.class_names, confusion)
        run.upload(confusion, CONFUSION_FILE)
    buffer = io.BytesIO()
    sample = validation_sample(splits.validation)
    np.savez(buffer, x=sample["x"], y=sample["y"])
    run.write_bytes(SAMPLE_FILE, buffer.getvalue())
    run.write_bytes(TRAINING_SAMPLE_FILE, encode(training_sample(splits.train, splits.info)))
    return evaluation


def finish_run(
    config: TrainConfig,
    run: RunDir,
    scratch: Path,
    record: RunRecord,
    splits: Any,
    state: RunState,
    digests: dict[int, str],
    started: float,
) -> RunRecord:
    """Evaluate the best model on the test split, write the run's artifacts, gather the
    ranks' reports and write the completed record."""
    evaluation = write_artifacts(config, run, scratch, state, splits)
    record.status = "completed"
    record.epochs_trained = state.epochs_completed
    record.trained = state.trained
    record.phases = state.phases
    record.restarts = max(0, state.attempt - 1)
    record.best_val_loss = state.best_val_loss
    record.ranks, record.shared_examples = gather_ranks(run)
    if not digests:  # the progress queue went away: the ranks' own reports have the digests
        digests = {r.rank: r.trainable_weights_sha256 for r in record.ranks}
    record.evaluation = {
        **evaluation,
        "rank_trainable_weights_sha256": {str(k): v for k, v in digests.items()},
    }
    seconds = time.time() - started
    record.timings.update(
        finished=now(),
        seconds=round(seconds, 2),
        epoch_seconds=[round(value, 3) for value in state.epoch_seconds],
        samples_per_second=[round(value, 1) for value in state.samples_per_second],
        checkpoint_seconds=[round(value, 3) for value in state.checkpoint_seconds],
    )
    run.write_record(record)
    return record
