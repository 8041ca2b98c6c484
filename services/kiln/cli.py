"""The `kiln` command line. Each command lives in ``kiln.commands.<name>`` and is imported only
when it runs, so ``kiln --help`` stays fast and never loads TensorFlow or Ray.
"""

from __future__ import annotations

import importlib
import sys

import click

from kiln.errors import KilnError

# name -> (module, attribute, one-line help shown by `kiln --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("kiln.commands.data", "data", "Write synthetic data in the real on-disk layouts."),
    "models": ("kiln.commands.models", "models", "Architectures and registered models."),
    "train": ("kiln.commands.train", "train", "Train a model on Ray Train (local or remote Ray)."),
    "tune": ("kiln.commands.tune", "tune", "Search hyperparameters with Ray Tune."),
    "runs": ("kiln.commands.runs", "runs", "List and inspect training runs."),
    "submit": ("kiln.commands.submit", "submit", "Run a kiln command as a Ray job on a cluster."),
    "export": (
        "kiln.commands.export",
        "export",
        "Export a run to ONNX, prove parity, register it.",
    ),
    "explain": (
        "kiln.commands.explain",
        "explain",
        "Draw what a trained convnet sees: activations, filters, Grad-CAM heatmaps.",
    ),
    "serve": ("kiln.commands.serve", "serve", "Serve registered models with Ray Serve."),
    "predict": ("kiln.commands.predict", "predict", "Send an input to a running server."),
    "drift": (
        "kiln.commands.drift",
        "drift",
        "Served traffic against the training data: `kiln drift report LOGS --model NAME`.",
    ),
    "demo": ("kiln.commands.demo", "demo", "The whole product end to end on this machine."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kiln")
def cli() -> None:
    """Kiln: train Keras models on Ray, export them to ONNX with proven parity, serve them
    with Ray Serve — on this machine (a local Ray) or on a cluster (--address / RAY_ADDRESS)."""


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KilnError as e:  # pragma: no cover - click's standalone mode exits first
        click.secho(f"error: {e.message}", fg="red", err=True)
        sys.exit(2)
