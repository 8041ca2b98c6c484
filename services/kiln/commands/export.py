"""`kiln export RUN`: convert a run's best checkpoint to ONNX, prove parity, register it.

The conversion runs where TensorFlow sees no GPU: this command imports nothing from TensorFlow
itself, and ``kiln.export`` sets ``CUDA_VISIBLE_DEVICES=""`` before TensorFlow is first imported.
"""

from __future__ import annotations

import click

from kiln.commands._common import kiln_errors
from kiln.export.config import DEFAULT_ATOL, DEFAULT_OPSET


@click.command()
@click.argument("run_dir", metavar="RUN")
@click.option(
    "--registry",
    default=None,
    help="Registry directory or s3:// / gs:// URI (default: KILN_REGISTRY, else ./kiln-registry).",
)
@click.option("--name", default=None, help="Registry name (default: the run's model name).")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset.")
@click.option(
    "--atol",
    type=float,
    default=DEFAULT_ATOL,
    show_default=True,
    help="Largest absolute difference allowed between ONNX and Keras outputs.",
)
@click.option(
    "--explain/--no-explain",
    default=True,
    show_default=True,
    help="Add a classifier's Grad-CAM graph (served by /v1/classification/explain).",
)
@kiln_errors
def export(
    run_dir: str, registry: str | None, name: str | None, opset: int, atol: float, explain: bool
) -> None:
    """Export RUN to ONNX; register it only if onnxruntime matches Keras within --atol.

    RUN is a run directory or a run URI on object storage (s3://bucket/runs/RUN_ID), or a
    finished search (`kiln tune`), whose chosen trial's run is exported.
    """
    from kiln.config import registry_uri
    from kiln.export import export_run
    from kiln.tuning.report import chosen_run

    chosen = chosen_run(run_dir)
    if chosen is not None:
        click.echo(f"search {run_dir}: exporting its chosen trial's run {chosen}", err=True)
        run_dir = chosen

    target = registry_uri(registry)
    manifest = export_run(
        run_dir,
        target,
        name=name,
        opset=opset,
        atol=atol,
        explain=explain,
        progress=lambda message: click.echo(f"  {message}", err=True),
    )
    parity = manifest.parity
    click.echo(f"exported {manifest.ref} ({manifest.task}, {manifest.architecture}) to {target}")
    click.echo("  ops:    " + ", ".join(f"{op}×{n}" for op, n in manifest.op_summary.items()))
    if parity is not None:
        click.echo(
            f"  parity: max |onnx - keras| = {parity.max_abs_diff:.3g} over {parity.samples} "
            f"inputs (tolerance {parity.atol:g})"
        )
    if manifest.explain is not None:
        graph = manifest.explain
        click.echo(
            f"  explain: Grad-CAM of {graph.layer}, max |onnx - keras| = "
            f"{graph.parity.max_abs_diff:.3g} over {graph.parity.samples} heatmaps"
        )
    click.echo(f"  size:   {manifest.size_bytes / 1e6:.2f} MB, sha256 {manifest.sha256[:16]}…")
    for note in manifest.notes:
        click.echo(f"  note:   {note}")
    click.echo(f"  version {manifest.version} (latest)")
