"""`kiln explain`: what a trained convnet sees, as PNGs (activations, filters, Grad-CAM)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kiln.commands._common import kiln_errors


@click.command(context_settings={"show_default": True})
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--run", "run_uri", help="The run to explain: a run directory or run URI.")
@click.option("--model", "model_ref", help="Or a registered model, NAME or NAME:VERSION.")
@click.option(
    "--registry",
    default=None,
    help="Registry for --model (default: KILN_REGISTRY, else ./kiln-registry).",
)
@click.option("--activations", is_flag=True, help="A channel grid per conv/pooling layer.")
@click.option(
    "--filters",
    "filter_layers",
    multiple=True,
    help="Layer whose filter patterns to draw (gradient ascent); repeat for more layers.",
)
@click.option("--filter-count", type=int, default=16, help="Filters drawn per --filters layer.")
@click.option(
    "--heatmap/--no-heatmap",
    default=True,
    help="Grad-CAM over each image with the predicted label (segmentation: each class's map).",
)
@click.option("--out", type=click.Path(file_okay=False), default="kiln-explain")
@kiln_errors
def explain(
    images: tuple[str, ...],
    run_uri: str | None,
    model_ref: str | None,
    registry: str | None,
    activations: bool,
    filter_layers: tuple[str, ...],
    filter_count: int,
    heatmap: bool,
    out: str,
) -> None:
    """Draw what the model of --run or --model sees in IMAGES, as PNGs under --out.

    \b
    Examples:
      kiln explain cat.jpg --run kiln-runs/classification-mini_xception-20250101-120000
      kiln explain cat.jpg dog.jpg --model cats-dogs:3 --activations --filters conv2d_1
    """
    if (run_uri is None) == (model_ref is None):
        raise click.UsageError("give exactly one of --run RUN or --model NAME[:VERSION]")
    if not (heatmap or activations or filter_layers):
        raise click.UsageError("nothing to draw: give --heatmap, --activations or --filters")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rich.progress import Progress

    from kiln.config import registry_uri
    from kiln.explain.run import Request, steps
    from kiln.explain.source import from_registry, from_run

    explained = (
        from_run(run_uri) if run_uri else from_registry(registry_uri(registry), str(model_ref))
    )
    request = Request(
        images=[Path(image) for image in images],
        out=Path(out),
        activations=activations,
        heatmap=heatmap,
        filter_layers=list(filter_layers),
        filter_count=filter_count,
    )
    planned = list(steps(explained, request))
    written: list[Path] = []
    with Progress(transient=True) as progress:
        bar = progress.add_task("explaining", total=len(planned))
        for description, draw in planned:
            progress.update(bar, description=description)
            written.extend(draw())
            progress.advance(bar)
    click.echo(f"{len(written)} PNGs under {out}/ (model from {explained.source})")
    for path in written:
        click.echo(f"  {path}")
