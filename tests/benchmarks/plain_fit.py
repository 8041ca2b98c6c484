"""The baseline of the training benchmark: one process, no Ray, no distribution strategy.

``python -m tests.benchmarks.plain_fit CONFIG.yaml GLOBAL_BATCH`` trains the model that
``kiln train --config CONFIG.yaml`` trains, on the same data, with the global batch, the same
step counts and the book's ModelCheckpoint(save_best_only), then evaluates the best model on
the test split: what a user would write by hand with Keras alone.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main(config_path: str, global_batch: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from kiln.data.loaders import load_splits
    from kiln.models.build import build_model
    from kiln.training.config import load_config

    config = load_config(config_path)
    keras.utils.set_random_seed(config.seed)
    splits = load_splits(config.task, config.data, config.data_options)
    counts = splits.info.split_counts
    steps = max(1, counts.train // global_batch)
    if config.steps_per_epoch is not None:
        steps = min(steps, config.steps_per_epoch)
    validation_steps = max(1, counts.validation // global_batch)
    if config.validation_steps is not None:
        validation_steps = min(validation_steps, config.validation_steps)
    buffer = max(1, min(counts.train, 10_000))
    train = splits.train.cache().shuffle(buffer, seed=config.seed).repeat()
    validation = splits.validation.cache().repeat()
    model = build_model(config.model, splits.info, **config.model_options)
    with tempfile.TemporaryDirectory(prefix="kiln-bench-plain-") as scratch:
        best = Path(scratch) / "best.keras"
        model.fit(
            train.batch(global_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE),
            epochs=config.epochs,
            steps_per_epoch=steps,
            validation_data=validation.batch(global_batch, drop_remainder=True),
            validation_steps=validation_steps,
            callbacks=[
                keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True)
            ],
            verbose=0,
        )
        keras.models.load_model(best).evaluate(splits.test.batch(64), verbose=0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
