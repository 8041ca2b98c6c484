"""`kiln serve`: the Serve application in the foreground, until Ctrl-C."""

from __future__ import annotations

import signal
import threading

import click

from kiln.commands._common import kiln_errors
from kiln.config import load_yaml, ray_address, registry_uri, validate
from kiln.tasks import TASKS


def parse_models(values: tuple[str, ...]) -> dict[str, str]:
    models: dict[str, str] = {}
    for value in values:
        task, sep, ref = value.partition("=")
        if not sep or task not in TASKS or not ref:
            raise click.BadParameter(f"{value!r}: expected TASK=NAME[:VERSION], TASK in {TASKS}")
        models[task] = ref
    return models


def drift_settings(enabled: bool, log_uri: str | None, rate: float) -> dict[str, object]:
    if log_uri is None:
        return {"enabled": enabled}
    return {"enabled": enabled, "request_log": {"sample_rate": rate, "uri": log_uri}}


@click.command(context_settings={"show_default": True})
@click.option("--registry", help="Model registry (default: $KILN_REGISTRY, else ./kiln-registry).")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    type=click.Choice(TASKS),
    help="Serve only these tasks (repeatable; default: every task in the registry).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="TASK=NAME[:VERSION]",
    help="Which registered model a task serves (default: its newest).",
)
@click.option("--host", default="127.0.0.1", help="Interface to bind; 0.0.0.0 exposes it.")
@click.option("--port", default=8000, type=int)
@click.option("--address", help="Ray cluster to deploy on (default: $RAY_ADDRESS, else local).")
@click.option(
    "--max-batch-size",
    type=int,
    help="Most requests per model call (default 8; a replica lowers it to what its model runs "
    "fastest at).",
)
@click.option(
    "--batch-wait",
    type=float,
    help="Seconds to wait to fill a batch (default 0: batch what is queued).",
)
@click.option(
    "--drift/--no-drift",
    default=True,
    help="Measure input and output drift against each model's training statistics "
    "(the kiln_*_drift_score metrics).",
)
@click.option(
    "--request-log",
    metavar="URI",
    help="Write a sample of requests as JSON lines under this directory or s3:// / gs:// "
    "prefix (read back with `kiln drift report`).",
)
@click.option(
    "--log-sample-rate",
    type=float,
    default=0.1,
    help="Share of requests --request-log writes (0..1).",
)
@click.option(
    "--ingress",
    type=click.Choice(["haproxy", "python"]),
    default="haproxy",
    help="Serve's ingress on a local Ray: HAProxy, or Serve's Python proxy (slower; for "
    "comparison). Every Ray process listens on 127.0.0.1 either way.",
)
@click.option("--fast", is_flag=True, hidden=True, help="Accepted for old scripts; the default.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML with the full build_app args (the RayService form); flags are ignored.",
)
@kiln_errors
def serve(
    registry: str | None,
    tasks: tuple[str, ...],
    models: tuple[str, ...],
    host: str,
    port: int,
    address: str | None,
    max_batch_size: int | None,
    batch_wait: float | None,
    drift: bool,
    request_log: str | None,
    log_sample_rate: float,
    ingress: str,
    fast: bool,
    config_file: str | None,
) -> None:
    """Serve registered models over HTTP: /v1/{task}/predict and Open Inference Protocol v2.

    \b
    Examples:
      kiln serve --registry kiln-registry
      kiln serve --task classification --port 8080
      kiln serve --model forecasting=jena-lstm:3 --max-batch-size 16
      kiln serve --request-log kiln-request-log --log-sample-rate 0.05
    """
    from rich.console import Console

    from kiln.localray import lean

    lean.install(["pandas"])  # this process only serves, like the Ray it starts
    from kiln.serving import launch
    from kiln.serving.config import ServeArgs

    console = Console(stderr=True, soft_wrap=True)
    if fast:
        console.print("note: --fast is the default now (HAProxy ingress); the flag does nothing")
    if config_file:
        args = validate(ServeArgs, load_yaml(config_file), f"serve config {config_file}")
    else:
        uri = registry_uri(registry)
        batching = {
            k: v
            for k, v in (("max_batch_size", max_batch_size), ("batch_wait_timeout_s", batch_wait))
            if v is not None
        }
        chosen = launch.discover_models(uri, list(tasks) or None, parse_models(models))
        args = validate(
            ServeArgs,
            {
                "registry": uri,
                "models": {t: c.model_dump() for t, c in chosen.items()},
                "batching": batching,
                "drift": drift_settings(drift, request_log, log_sample_rate),
            },
            "serve flags",
        )
    stop = threading.Event()
    server = None
    try:
        # Inside the try: the app answers HTTP before start() returns, so a Ctrl-C may land
        # while it is still finishing; it must stop cleanly then too.
        with console.status(f"starting Ray Serve with {', '.join(args.models)} …"):
            server = launch.start(
                args, host=host, port=port, address=ray_address(address), ingress=ingress
            )
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        for task, choice in args.models.items():
            console.print(
                f"[green]✓[/] {task}: {choice.name}:{choice.version}  "
                f"POST {server.url}/v1/{task}/predict"
            )
        console.print(
            f"OIP v2: {server.url}/v2/models/<name>/infer · docs: {server.url}/docs · Ctrl-C stops"
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # A terminal's Ctrl-C reaches Ray's own processes too; a second one must not abort the
        # shutdown half-way and leave Ray running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            with console.status("stopping …"):
                server.stop()
        console.print("stopped")
