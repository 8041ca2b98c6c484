"""`kiln data synth`: write synthetic data in the real on-disk layouts."""

from __future__ import annotations

import click

from kiln.commands._common import kiln_errors

SYNTH_KINDS = ("segmentation", "classification", "mnist", "forecasting")


@click.group()
def data() -> None:
    """Data in the real on-disk layouts (Pets, class folders, MNIST .npz, Jena CSV)."""


@data.command()
@click.option(
    "--task",
    "kind",
    type=click.Choice(SYNTH_KINDS),
    required=True,
    help="Which layout: segmentation (Pets), classification (class folders), "
    "mnist (.npz) or forecasting (Jena CSV).",
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
    "Defaults: 48 pairs, 96 images, 1000 digits, 60 days.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@kiln_errors
def synth(kind: str, out: str, size: int | None, seed: int) -> None:
    """Write a synthetic dataset with a learnable signal, then print what was written."""
    from kiln.data.synthetic import write_synthetic

    result = write_synthetic(kind, out, size=size, seed=seed)
    click.echo(result.summary())
