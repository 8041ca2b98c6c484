"""`kiln data synth`: write synthetic data in the real on-disk layouts."""

from __future__ import annotations

from typing import Any

import click

from kiln.commands._common import kiln_errors
from kiln.commands._data_options import data_flags, data_options
from kiln.tasks import SYNTHETIC_KINDS, TASKS

_SIZE_DEFAULTS = ", ".join(
    f"{layout.synthetic_size} for {kind}" for kind, layout in SYNTHETIC_KINDS.items()
)


@click.group()
def data() -> None:
    """Data in the real on-disk layouts (Pets, class folders, MNIST .npz, Jena CSV)."""


@data.command()
@click.option(
    "--task",
    "kind",
    type=click.Choice(list(SYNTHETIC_KINDS)),
    required=True,
    help="Which layout: "
    + "; ".join(f"{kind}: {layout.description}" for kind, layout in SYNTHETIC_KINDS.items())
    + ".",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory to create (must not exist, or be empty).",
)
@click.option(
    "--size",
    type=int,
    default=None,
    help="Images (pairs / digits) to write, or days of rows for forecasting. "
    f"Defaults: {_SIZE_DEFAULTS}.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@kiln_errors
def synth(kind: str, out: str, size: int | None, seed: int) -> None:
    """Write a synthetic dataset in a real layout.

    The data carries a learnable signal (shapes, textures, strokes, a pressure-led weather
    cycle), so a short training run provably learns; the command prints what it wrote."""
    from kiln.data.synthetic import write_synthetic

    result = write_synthetic(kind, out, size=size, seed=seed)
    click.echo(result.summary())


@data.command()
@click.option("--task", type=click.Choice(TASKS), required=True, help="The task to read for.")
@click.argument("path")
@click.option("--sequence-length", type=int, default=None, help="Forecasting window length.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole DatasetInfo as JSON.")
@data_flags
@kiln_errors
def inspect(
    task: str,
    path: str,
    sequence_length: int | None,
    as_json: bool,
    **flags: Any,
) -> None:
    """Report what the loader finds in PATH (a directory, or an s3:// / gs:// URI).

    Loads PATH as training would (staging an object-store dataset into the local cache) and prints the layout, shapes, split sizes, the naive
    baseline, the fingerprint, and every file skipped or converted (and why)."""
    from kiln.config import validate
    from kiln.data.info import LoadOptions
    from kiln.data.loaders import load_splits

    raw: dict = data_options(flags)
    if sequence_length is not None:
        raw["sequence_length"] = sequence_length
    info = load_splits(task, path, validate(LoadOptions, raw, "data options")).info
    if as_json:
        click.echo(info.model_dump_json(indent=2))
        return
    counts = info.split_counts
    click.echo(f"{info.root}: {info.layout} layout, input shape {info.input_shape}")
    if info.class_names:
        click.echo(f"classes ({info.num_classes}): {', '.join(info.class_names)}")
    click.echo(f"splits: train {counts.train}, validation {counts.validation}, test {counts.test}")
    if info.row_interval_minutes is not None and info.target_column is not None:
        click.echo(
            f"interval {info.row_interval_minutes:g} min; window {info.sequence_length} samples "
            f"every {info.sampling_rate} row(s); target {info.target_column!r} "
            f"{info.horizon_hours:g} h ahead; columns {info.columns}"
        )
    if info.naive_baseline_mae is not None:
        unit = info.target_unit if info.target_unit is not None else "degC"
        click.echo(f"naive baseline MAE on the test windows: {info.naive_baseline_mae:.3f} {unit}")
    fingerprint = info.fingerprint
    click.echo(
        f"fingerprint: {fingerprint.file_count} files, {fingerprint.total_bytes} bytes, "
        f"sha256 {fingerprint.sha256[:16]}"
    )
    click.echo(f"skipped {info.skipped_files} file(s), converted {info.converted_files}")
    for warning in info.warnings:
        click.echo(f"  warning: {warning}")
