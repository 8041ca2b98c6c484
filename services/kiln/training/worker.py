"""The per-worker training loop that Ray Train runs on every worker.

Each worker creates its distribution strategy first (collective ops must be configured before
any other TensorFlow op; Ray's TensorflowTrainer has set TF_CONFIG), loads its shard of the
data, builds and compiles the model inside ``strategy.scope()`` (or restores it, with its
optimizer state, from the last Ray Train checkpoint) and runs ``model.fit``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import ray.train
import tensorflow as tf

from kiln.errors import DataError
from kiln.runs import RunDir
from kiln.training import keras_mwms_patch
from kiln.training.callbacks import build_callbacks, remove_scratch
from kiln.training.checkpointing import (
    BEST_FILE,
    MODEL_FILE,
    WEIGHTS_FILE,
    RunState,
    copy_checkpoint,
    read_state,
    restore_arrays,
)
from kiln.training.config import TrainConfig
from kiln.training.kept_validation import KeepValidationIterator
from kiln.training.metrics import TrainingMetrics
from kiln.training.ranks import ExampleLog, RankReporter


def distribute(
    strategy: tf.distribute.Strategy,
    dataset: tf.data.Dataset,
    *,
    count: int,
    per_worker_batch: int,
    seed: int | None,
    max_steps: int | None,
    observe: Callable[[tf.data.Dataset], tf.data.Dataset] | None = None,
) -> tuple[Any, int]:
    """This worker's shard of an unbatched split, batched, repeated; and the steps per epoch.

    Every worker must run the same number of steps, or the collectives of the last step wait
    forever; the steps are computed from the split's size and the dataset repeats, so no
    worker runs out of data early. ``observe`` sees the worker's shard before it is cached.
    Without a ``seed`` (validation) the shard repeats exactly one epoch's batches, so one
    iterator kept across epochs (``kept_validation``) reads the same batches every epoch.
    """
    workers = strategy.num_replicas_in_sync
    if count < workers:
        raise DataError(f"a split of {count} items cannot be shared by {workers} workers")
    steps = max(1, (count // workers) // per_worker_batch)
    if max_steps is not None:
        steps = min(steps, max_steps)

    def shard(context: tf.distribute.InputContext) -> tf.data.Dataset:
        part = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
        batch = context.get_per_replica_batch_size(per_worker_batch * workers)
        if seed is None:
            part = part.take(steps * batch)
        part = (observe(part) if observe is not None else part).cache()
        if seed is not None:
            buffer = max(1, min(count // workers, 10_000))
            part = part.shuffle(buffer, seed=seed + context.input_pipeline_id)
        return part.repeat().batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(shard), steps


def make_strategy(world_size: int) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy across two or more workers; TensorFlow's default strategy
    for one.

    With one worker there is nothing to keep in sync: the gradients' all-reduce over one
    replica is the identity, and the shard is the whole split. MWMS would still route every
    step and every log value through collective ops and rebuild a distributed iterator for each
    validation pass; the default strategy trains exactly as a plain ``fit`` does.
    """
    if world_size == 1:
        return tf.distribute.get_strategy()
    keras_mwms_patch.apply()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _restore(
    checkpoint: ray.train.Checkpoint, scratch: Path, config: TrainConfig, info: Any
) -> tuple[keras.Model, RunState]:
    """The checkpointed model with its optimizer state, and the run's state, one attempt on.

    The model is rebuilt from the config, set up for the phase it was in, and given the
    checkpoint's arrays; a checkpoint that holds the whole model (the final one, or one
    written before arrays) is loaded as it is."""
    restored = scratch / "restored"
    with checkpoint.as_directory() as directory:
        copy_checkpoint(Path(directory), restored)
    state = read_state(restored)
    state.attempt += 1
    if (restored / BEST_FILE).exists():
        shutil.copyfile(restored / BEST_FILE, scratch / BEST_FILE)
    if (restored / MODEL_FILE).exists():
        return keras.models.load_model(restored / MODEL_FILE), state
    model = build(config, info)
    if config.base is not None and any(p["phase"] == "fine_tune" for p in state.phases):
        from kiln.models.transfer import unfreeze_top

        unfreeze_top(model, config.base.fine_tune_layers, config.base.fine_tune_lr)
    restore_arrays(model, restored / WEIGHTS_FILE)
    return model, state


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's entry point on each worker. ``loop_config`` carries the TrainConfig (as a
    dict), the run id, the run's URI and an optional progress queue."""
    config = TrainConfig.model_validate(loop_config["config"])
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    strategy = make_strategy(world_size)

    from kiln.data.loaders import load_splits

    keras.utils.set_random_seed(config.seed)
    splits = load_splits(config.task, config.data, config.data_options)
    counts = splits.info.split_counts
    examples = ExampleLog()
    train_data, train_steps = distribute(
        strategy,
        splits.train,
        count=counts.train,
        per_worker_batch=config.batch_size,
        seed=config.seed,
        max_steps=config.steps_per_epoch,
        observe=examples.watch,
    )
    validation_data, validation_steps = distribute(
        strategy,
        splits.validation,
        count=counts.validation,
        per_worker_batch=config.batch_size,
        seed=None,
        max_steps=config.validation_steps,
    )

    scratch = Path(tempfile.mkdtemp(prefix=f"kiln-{loop_config['run_id']}-rank{rank}-"))
    checkpoint = ray.train.get_checkpoint()
    with strategy.scope():
        if checkpoint is not None:
            model, state = _restore(checkpoint, scratch, config, splits.info)
        else:
            model, state = build(config, splits.info), RunState()

    metrics = None
    if rank == 0:
        metrics = TrainingMetrics(config.task, config.model, loop_config["run_id"])
        if checkpoint is not None:
            metrics.record_restart()
    run = RunDir(loop_config["run_uri"])
    callbacks = build_callbacks(
        config,
        state=state,
        scratch=scratch,
        rank=rank,
        world_size=world_size,
        samples_per_epoch=train_steps * config.batch_size * world_size,
        metrics=metrics,
        progress=loop_config.get("progress"),
        run=run,
    )
    callbacks.append(KeepValidationIterator())
    callbacks.append(
        RankReporter(
            run,
            rank=rank,
            attempt=state.attempt,
            strategy=strategy,
            examples=examples,
            expected_steps=train_steps,
            global_batch_size=config.batch_size * world_size,
        )
    )
    try:
        for name, start, end in phases(config):
            if state.epochs_completed >= end:
                continue  # a resumed run: this phase is done
            with strategy.scope():
                begin_phase(config, model, state, name, start)
            model.fit(
                train_data,
                epochs=end,
                initial_epoch=max(state.epochs_completed, start),
                steps_per_epoch=train_steps,
                validation_data=validation_data,
                validation_steps=validation_steps,
                callbacks=callbacks,
                verbose=0,
            )
    finally:
        if metrics is not None:
            metrics.close()
        remove_scratch(scratch)


def build(config: TrainConfig, info: Any) -> keras.Model:
    """The compiled model: a catalog architecture, or a pretrained base under a new head."""
    if config.base is None:
        from kiln.models.build import build_model

        return build_model(config.model, info, **config.model_options)
    from kiln.models.transfer import transfer_model

    base = config.base
    return transfer_model(
        base.source, base.weights, list(info.input_shape), info.num_classes, base.freeze
    )


def phases(config: TrainConfig) -> list[tuple[str, int, int]]:
    """``(name, first epoch, end epoch)``: training (the head, on a frozen base with
    --freeze-base), then fine-tuning when a base is fine-tuned."""
    first = "head" if config.base is not None and config.base.freeze else "train"
    found = [(first, 0, config.epochs)]
    if config.base is not None and config.base.fine_tune_epochs:
        found.append(("fine_tune", config.epochs, config.total_epochs))
    return found


def begin_phase(
    config: TrainConfig, model: keras.Model, state: RunState, name: str, start: int
) -> None:
    """Before a phase's first epoch: open the base's top layers for fine-tuning (unless a
    resumed model already has them open), and record which layers train in the phase."""
    from kiln.models.transfer import trainable_layers, unfreeze_top

    if any(phase["phase"] == name for phase in state.phases):
        return  # resumed inside this phase: the checkpointed model is already set up for it
    rate = None
    if name == "fine_tune" and config.base is not None:
        unfreeze_top(model, config.base.fine_tune_layers, config.base.fine_tune_lr)
        rate = config.base.fine_tune_lr
    state.phases.append(
        {"phase": name, "first_epoch": start + 1, "learning_rate": rate, **trainable_layers(model)}
    )
