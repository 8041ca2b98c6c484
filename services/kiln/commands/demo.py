"""`kiln demo`: the whole product end to end on this machine."""

from __future__ import annotations

import signal
import threading

import click

from kiln.commands._common import kiln_errors


@click.command(context_settings={"show_default": True})
@click.option(
    "--out",
    default="demo-output",
    type=click.Path(file_okay=False),
    help="Where data, runs, registry, plots and summary.json go.",
)
@click.option("--keep-serving", is_flag=True, help="Leave the API running until Ctrl-C.")
@click.option("--port", default=8000, type=int, help="Port of the API on 127.0.0.1.")
@click.option(
    "--budget",
    default="quick",
    type=click.Choice(["quick", "tiny"]),
    help="How long to train: quick (a few minutes) or tiny (a smoke run).",
)
@kiln_errors
def demo(out: str, keep_serving: bool, port: int, budget: str) -> None:
    """Synthetic data → Ray Train (2 workers) → ONNX with parity → registry → Ray Serve on
    127.0.0.1 → real requests on both APIs → summary table and plots in --out.

    Leaves nothing running unless --keep-serving.
    """
    from rich.console import Console

    from kiln.demo import DemoConfig, run_demo

    console = Console()
    config = DemoConfig(out=out, port=port, budget=budget)  # type: ignore[arg-type]
    result = run_demo(config, console=console, keep_serving=keep_serving)
    if not keep_serving or result.server is None:
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(
        f"serving at {result.url} — try: kiln predict --task classification "
        f"<image.png> --url {result.url}   (Ctrl-C stops)"
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the stop
        result.server.stop()
        console.print("stopped")
