"""`kiln models list|show|promote`: the architectures Kiln builds and the models it registered."""

from __future__ import annotations

import json

import click

from kiln.commands._common import kiln_errors


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _catalog_rows(with_params: bool) -> list[list[str]]:
    from kiln.models.catalog import ARCHITECTURES

    rows = []
    for name, arch in ARCHITECTURES.items():
        params = "-"
        if with_params:  # building a model imports TensorFlow: only when asked (the default)
            from kiln.models.build import parameter_count

            params = f"{parameter_count(name):,}"  # at the book's shapes (kiln.tasks)
        rows.append([arch.task, name, ", ".join(arch.layouts), params, arch.description])
    return rows


def _short_metrics(metrics: dict[str, float], limit: int = 3) -> str:
    return ", ".join(f"{key}={value:.4g}" for key, value in list(metrics.items())[:limit]) or "-"


@click.group()
def models() -> None:
    """Architectures Kiln can train, and the models registered for serving."""


@models.command("list")
@click.option(
    "--registry",
    default=None,
    help="Registry directory or URI (default: KILN_REGISTRY, else ./kiln-registry).",
)
@click.option(
    "--params/--no-params",
    default=True,
    show_default=True,
    help="Count each architecture's parameters (builds each model at the book's size).",
)
@kiln_errors
def list_models(registry: str | None, params: bool) -> None:
    """The architecture catalog and, when the registry holds any, the registered models."""
    from kiln.config import registry_uri
    from kiln.registry import RegistryStore

    click.echo("Architectures (parameters at the book's input sizes):")
    headers = ["task", "name", "layouts", "params", "description"]
    click.echo(_table(headers, _catalog_rows(params)))
    uri = registry_uri(registry)
    store = RegistryStore(uri)
    manifests = store.list()
    if not manifests:
        click.echo(f"\nNo models registered in {uri} yet (`kiln export RUN_DIR` adds one).")
        return
    latest = {name: store.latest_version(name) for name in store.names()}
    rows = [
        [
            m.name,
            f"{m.version}{' (latest)' if latest.get(m.name) == m.version else ''}",
            m.task,
            m.architecture,
            _short_metrics(m.metrics),
            m.created.strftime("%Y-%m-%d %H:%M"),
            m.source_run or "-",
        ]
        for m in manifests
    ]
    click.echo(f"\nRegistered models in {uri}:")
    click.echo(
        _table(
            ["name", "version", "task", "architecture", "metrics", "created", "source run"], rows
        )
    )


@models.command()
@click.argument("ref")
@click.option("--registry", default=None, help="Registry directory or URI.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@kiln_errors
def show(ref: str, registry: str | None, as_json: bool) -> None:
    """Show REF (NAME or NAME:VERSION): the manifest, its op summary and parity figures."""
    from kiln.config import registry_uri
    from kiln.registry import RegistryStore, parse_ref

    name, version = parse_ref(ref)
    manifest = RegistryStore(registry_uri(registry)).manifest(name, version)
    if as_json:
        click.echo(json.dumps(manifest.model_dump(mode="json"), indent=2))
        return
    pre = manifest.preprocessing
    lines = [
        f"{manifest.ref}  ({manifest.task}, {manifest.architecture})",
        f"created      {manifest.created.isoformat(timespec='seconds')}",
        f"source run   {manifest.source_run or '-'}  ({manifest.source_checkpoint or '-'})",
        f"dataset      {manifest.dataset_fingerprint[:16] or '-'}",
        "inputs       " + "; ".join(f"{s.name} {s.dtype} {s.shape}" for s in manifest.inputs),
        "outputs      " + "; ".join(f"{s.name} {s.dtype} {s.shape}" for s in manifest.outputs),
        "preprocess   " + ", ".join(f"{k}={v}" for k, v in pre.model_dump().items() if k != "kind"),
        "metrics      " + (", ".join(f"{k}={v:.4g}" for k, v in manifest.metrics.items()) or "-"),
        f"opset        {manifest.opset}",
        "ops          " + ", ".join(f"{op}×{n}" for op, n in manifest.op_summary.items()),
    ]
    if manifest.parity is not None:
        p = manifest.parity
        lines.append(
            f"parity       max abs diff {p.max_abs_diff:.3g} on {p.samples} inputs (atol {p.atol:g})"
        )
    lines.append(f"model.onnx   {manifest.size_bytes:,} bytes, sha256 {manifest.sha256}")
    lines += [f"note         {note}" for note in manifest.notes]
    click.echo("\n".join(lines))


@models.command()
@click.argument("ref")
@click.option(
    "--as",
    "alias",
    type=click.Choice(["latest"]),
    required=True,
    help="The pointer to move (only 'latest' exists).",
)
@click.option("--registry", default=None, help="Registry directory or URI.")
@kiln_errors
def promote(ref: str, alias: str, registry: str | None) -> None:
    """Point NAME's `latest` at NAME:VERSION; every version is kept."""
    from kiln.config import registry_uri
    from kiln.errors import ConfigError
    from kiln.registry import LATEST, RegistryStore, parse_ref

    name, version = parse_ref(ref)
    if version == LATEST:
        raise ConfigError(f"promote needs NAME:VERSION with a version number, got {ref!r}")
    store = RegistryStore(registry_uri(registry))
    previous = store.latest_version(name)
    number = store.promote(name, version)
    click.echo(f"{name}:{alias} now points at version {number} (was {previous})")
