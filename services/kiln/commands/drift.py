"""`kiln drift report`: served traffic from the sampled request log against the training data."""

from __future__ import annotations

from pathlib import Path

import click

from kiln.commands._common import kiln_errors

THRESHOLD = 0.2  # the usual PSI reading: above it, a shift worth acting on


@click.group()
def drift() -> None:
    """Drift of served inputs and answers against the training split.

    \b
    A replica measures drift all the time (the kiln_input_drift_score and
    kiln_output_drift_score metrics, on by default); with request logging on
    (drift.request_log.sample_rate > 0 and a uri, in ServeArgs or the ModelDeployment),
    `kiln drift report` reads that log back, offline.
    """


@drift.command(context_settings={"show_default": True})
@click.argument("logs")
@click.option("--model", "model_ref", required=True, help="NAME or NAME:VERSION (default latest).")
@click.option(
    "--registry",
    default=None,
    help="Registry holding the model (default: KILN_REGISTRY, else ./kiln-registry).",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default="drift-report.png",
    help="Where to write the picture of served vs training distributions.",
)
@kiln_errors
def report(logs: str, model_ref: str, registry: str | None, plot_path: str) -> None:
    """Per-feature drift of the requests logged under LOGS (a directory or an s3:// / gs://
    prefix, as drift.request_log.uri names it) against the model's training statistics.

    \b
    Prints one line per feature: its population stability index (PSI; < 0.1 no change,
    0.1-0.2 some, > 0.2 drifted), and the served and training means. Only requests answered by
    the chosen version count.

    \b
    Examples:
      kiln drift report kiln-request-log --model jena-lstm
      kiln drift report s3://bucket/request-log --model pets:3 --plot pets-drift.png
    """
    from kiln.config import registry_uri
    from kiln.drift.logs import drift_report, read_records
    from kiln.drift.plot import plot_report
    from kiln.registry import RegistryStore, parse_ref

    name, version = parse_ref(model_ref)
    manifest = RegistryStore(registry_uri(registry)).manifest(name, version)
    found = drift_report(manifest, read_records(logs))
    click.echo(
        f"{manifest.ref}: {found.records} logged requests, {found.scores.samples} instances"
        + (
            f" ({found.skipped} requests of other models or versions left out)"
            if found.skipped
            else ""
        )
    )
    stats = manifest.training_stats
    assert stats is not None
    trained = {f.name: f.mean for f in [*stats.inputs, *stats.outputs] if not f.categories}
    click.echo(
        f"{'':8}{'feature':<24}{'PSI':>9}  drifted {'served mean':>12} {'training mean':>14}"
    )
    for kind, scores in (("input", found.scores.inputs), ("output", found.scores.outputs)):
        for feature, psi in scores.items():
            mark = "yes" if psi > THRESHOLD else "no"
            served, training = found.served_means.get(feature), trained.get(feature)
            means = f"{served:>12.4g} {training:>14.4g}" if None not in (served, training) else ""
            click.echo(f"{kind:<8}{feature:<24}{psi:>9.4f}  {mark:<7} {means}".rstrip())
    written = plot_report(found, Path(plot_path))
    click.echo(f"plot: {written}")
