"""`kiln train`: train a model on Ray Train, or continue an interrupted run."""

from __future__ import annotations

import os
from typing import Any

import click

from kiln.commands._common import kiln_errors
from kiln.commands._data_options import data_flags, data_options
from kiln.tasks import TASKS

# Flag name -> TrainConfig field, for flags that override a --config file.
OVERRIDES = (
    "task",
    "model",
    "data",
    "epochs",
    "batch_size",
    "workers",
    "cpus_per_worker",
    "gpus_per_worker",
    "steps_per_epoch",
    "max_failures",
    "checkpoint_every",
    "seed",
    "out",
    "run_id",
    "tensorboard",
)


@click.command(context_settings={"show_default": True})
@click.option("--task", type=click.Choice(TASKS), help="What to learn.")
@click.option("--model", help="Architecture (see `kiln models`), e.g. lstm, mini_xception.")
@click.option(
    "--data", help="Dataset in its real on-disk layout: a directory, or an s3:// or gs:// URI."
)
@click.option("--epochs", type=int, help="Epochs to train (default 10).")
@click.option("--batch-size", type=int, help="Batch size per worker (default 32).")
@click.option("--workers", type=int, help="Ray Train workers (default 2).")
@click.option("--cpus-per-worker", type=float, help="CPUs each worker reserves (default 1).")
@click.option("--gpus-per-worker", type=float, help="GPUs each worker reserves (default 0).")
@click.option("--steps-per-epoch", type=int, help="Cap on steps per epoch, for quick runs.")
@click.option("--max-failures", type=int, help="Worker failures to recover from (default 0).")
@click.option(
    "--checkpoint-every",
    type=int,
    help="Epochs between checkpoints (default 1); a failed worker loses at most this many.",
)
@click.option("--seed", type=int, help="Random seed (default 0).")
@click.option("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray).")
@click.option(
    "--out", help="Where runs go: a directory (./kiln-runs) or a URI such as s3://bucket/runs."
)
@click.option("--run-id", help="Name of the run directory (default: task-model-timestamp).")
@click.option(
    "--tensorboard/--no-tensorboard",
    default=None,
    help="TensorBoard and CSV logs in the run (default on): tensorboard --logdir RUN/tensorboard",
)
@click.option(
    "--base",
    help="Train a new classifier on a pretrained base: a .keras file, a run, a registered "
    "model, or a keras.applications name (with --base-weights; nothing is downloaded).",
)
@click.option("--base-weights", help="The weights file of a keras.applications --base.")
@click.option(
    "--freeze-base", is_flag=True, default=None, help="Feature extraction: the base stays frozen."
)
@click.option(
    "--fine-tune-layers", type=int, help="Then unfreeze the base's top N weighted layers (0: all)."
)
@click.option("--fine-tune-lr", type=float, help="Learning rate of fine-tuning (default 1e-5).")
@click.option("--fine-tune-epochs", type=int, help="Epochs of fine-tuning after --epochs.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML TrainConfig; flags given as well override its values.",
)
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN",
    help="Continue the run at this directory or URI from its last checkpoint.",
)
@click.option(
    "--if-exists",
    type=click.Choice(["fail", "resume"]),
    default="fail",
    help="When the --run-id run is already there: refuse, or continue it if its settings match "
    "(what a retried Kubernetes job needs).",
)
@click.option("--quiet", is_flag=True, help="Print nothing but the run directory.")
@data_flags
@kiln_errors
def train(
    config_file: str | None,
    resume_dir: str | None,
    address: str | None,
    if_exists: str,
    quiet: bool,
    **flags: Any,
) -> None:
    """Train a Keras model with MultiWorkerMirroredStrategy on Ray Train.

    \b
    Examples:
      kiln train --task forecasting --model lstm --data jena/ --epochs 20 --workers 2
      kiln train --config train.yaml --workers 4
      kiln train --resume kiln-runs/forecasting-lstm-20250101-120000

    The run (--out/--run-id, a directory or an s3:// / gs:// prefix) receives config.yaml,
    run.json, metrics.json, best.keras, learning_curves.png, validation_sample.npz, Ray
    Train's checkpoints, Ray's logs and (unless --no-tensorboard) tensorboard/ and
    training_log.csv.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rich.console import Console

    from kiln.config import ray_address, validate
    from kiln.data.info import LoadOptions
    from kiln.training import TrainConfig, load_config
    from kiln.training import resume as resume_run
    from kiln.training import train as train_run

    console = Console(quiet=quiet)
    loading = data_options(flags)
    given = {name: flags[name] for name in OVERRIDES if flags.get(name) is not None}
    base = base_options(flags)
    if base:
        given["base"] = base
        given.setdefault("model", "transfer")
    address = ray_address(address)
    if resume_dir is not None:
        if config_file is not None or loading or set(given) - {"max_failures"}:
            raise click.UsageError("--resume takes only --address and --max-failures")
        overrides = {**given, "address": address}
        resume_run(resume_dir, overrides=overrides, console=console)
        return
    if config_file is not None:
        config = load_config(config_file, overrides={**given, "address": address})
        if loading:
            merged = {**config.data_options.model_dump(exclude_unset=True), **loading}
            config = config.model_copy(
                update={"data_options": validate(LoadOptions, merged, "data options")}
            )
    else:
        if loading:
            given["data_options"] = loading
        missing = [f"--{name}" for name in ("task", "model", "data") if name not in given]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} (or give --config FILE)")
        config = validate(TrainConfig, {**given, "address": address}, source="options")
    if if_exists == "resume":
        from kiln.training.retry import train_or_continue

        result = train_or_continue(config, console=console)
    else:
        result = train_run(config, console=console)
    if quiet:
        click.echo(result.run_uri)


BASE_FLAGS = {
    "base": "source",
    "base_weights": "weights",
    "freeze_base": "freeze",
    "fine_tune_layers": "fine_tune_layers",
    "fine_tune_lr": "fine_tune_lr",
    "fine_tune_epochs": "fine_tune_epochs",
}


def base_options(flags: dict[str, Any]) -> dict[str, Any]:
    """The ``base`` block of TrainConfig from the --base/--fine-tune-* flags given."""
    named = [flag for flag in BASE_FLAGS if flags.get(flag) is not None]
    if named and "base" not in named:
        options = ", ".join("--" + flag.replace("_", "-") for flag in named)
        raise click.UsageError(f"{options} apply to a pretrained base: add --base SOURCE")
    return {BASE_FLAGS[flag]: flags[flag] for flag in named}
