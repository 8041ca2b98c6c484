"""`kiln submit`: run a kiln command as a Ray job on a cluster, through the Ray Jobs API.

The job's runtime environment carries this checkout's ``kiln`` package (``py_modules``), so the
cluster runs the code you have, not whatever version its image holds. The job runs
``python -c 'from kiln.cli import main; main()' COMMAND ARGS...``, which needs no console
script on the cluster. Inside the job, Ray sets RAY_ADDRESS, so ``kiln train`` joins the
cluster it runs on.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from pathlib import Path

import click

from kiln.commands._common import kiln_errors
from kiln.errors import ConfigError

DEFAULT_JOBS_ADDRESS = "http://127.0.0.1:8265"
ENTRYPOINT = "python -c 'from kiln.cli import main; main()'"
# Flags that belong to `kiln submit` even when written after the command, as in
# `kiln submit train ... --address http://HEAD:8265 --follow`: a job needs no --address of its
# own, because Ray tells it where its cluster is.
OWN_VALUE_FLAGS = ("--address", "--job-id")
OWN_FLAGS = ("--follow",)


def split_own_options(args: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    """Take submit's own options out of the command's arguments."""
    own: dict[str, str | bool] = {}
    rest: list[str] = []
    items = iter(args)
    for item in items:
        name, _, value = item.partition("=")
        if name in OWN_VALUE_FLAGS:
            given = value or next(items, None)
            if given is None:
                raise click.UsageError(f"{name} needs a value")
            own[name.lstrip("-").replace("-", "_")] = given
        elif item in OWN_FLAGS:
            own[item.lstrip("-")] = True
        else:
            rest.append(item)
    return own, rest


def runtime_env() -> dict:
    """Ship this checkout's kiln package with the job, without caches."""
    import kiln

    package = Path(kiln.__file__).resolve().parent
    return {
        "py_modules": [str(package)],
        "excludes": ["__pycache__", "*.pyc"],
        "env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"},
    }


def jobs_address(explicit: str | None) -> str:
    import os

    address = explicit or os.environ.get("RAY_JOBS_ADDRESS") or os.environ.get("RAY_ADDRESS")
    if not address or not address.startswith(("http://", "https://")):
        return DEFAULT_JOBS_ADDRESS if not explicit else f"http://{explicit}"
    return address


def use_local_auth_token() -> None:
    """Send this machine's Ray auth token, if it has one, as ``ray.init`` would.

    Ray clusters enable token authentication by default; ``ray.init`` switches a client to
    token mode when a token is present (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
    ``~/.ray/auth_token``), but ``JobSubmissionClient`` alone does not, and its requests are
    then refused as unauthenticated. An explicit ``RAY_AUTH_MODE`` is respected.
    """
    import logging

    try:
        from ray._private.authentication import authentication_token_setup as token_setup
    except ImportError:  # A Ray without token authentication: nothing to do.
        return
    logger = logging.getLogger(token_setup.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)  # Its "token authentication is enabled" notice is noise.
    try:
        token_setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        logger.setLevel(level)


async def _stream_logs(client, job_id: str) -> None:  # type: ignore[no-untyped-def]
    async for lines in client.tail_job_logs(job_id):
        sys.stdout.write(lines)
        sys.stdout.flush()


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--address",
    help="Ray Jobs API of the cluster (default: $RAY_JOBS_ADDRESS, $RAY_ADDRESS when it is "
    f"http(s)://, else {DEFAULT_JOBS_ADDRESS}).",
)
@click.option("--follow", is_flag=True, help="Stream the job's logs; exit with its status.")
@click.option("--job-id", help="Submission id (default: one chosen by Ray).")
@click.argument("command")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@kiln_errors
def submit(
    address: str | None, follow: bool, job_id: str | None, command: str, args: tuple[str, ...]
) -> None:
    """Run `kiln COMMAND ARGS...` as a Ray job on a cluster.

    \b
    Examples:
      kiln submit --address http://HEAD:8265 --follow train --task forecasting \\
          --model lstm --data /data/jena --epochs 20 --workers 2
      kiln submit train --config train.yaml --address http://HEAD:8265

    Without --follow, prints the job id and returns; follow it later with
    `ray job logs --address ADDRESS --follow JOB_ID`.
    """
    from kiln.cli import COMMANDS

    if command not in COMMANDS or command in ("submit", "demo"):
        choices = ", ".join(name for name in COMMANDS if name not in ("submit", "demo"))
        raise ConfigError(f"cannot submit {command!r}; expected one of {choices}")
    own, rest = split_own_options(list(args))
    address = jobs_address(str(own.get("address") or address or "") or None)
    follow = follow or bool(own.get("follow"))
    job_id = str(own.get("job_id") or job_id or "") or None

    from ray.job_submission import JobStatus, JobSubmissionClient

    use_local_auth_token()
    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConfigError(f"cannot reach the Ray Jobs API at {address}: {e}") from e
    entrypoint = f"{ENTRYPOINT} {shlex.join([command, *rest])}"
    submitted = client.submit_job(
        entrypoint=entrypoint, runtime_env=runtime_env(), submission_id=job_id
    )
    click.echo(f"submitted job {submitted} to {address}", err=True)
    click.echo(submitted)
    if not follow:
        return
    asyncio.run(_stream_logs(client, submitted))
    status = client.get_job_status(submitted)
    while not status.is_terminal():
        time.sleep(1)
        status = client.get_job_status(submitted)
    click.echo(f"job {submitted}: {status.value}", err=True)
    sys.exit(0 if status == JobStatus.SUCCEEDED else 1)
