"""Joining Ray for a run, and keeping Ray's own chatter out of the console.

With no address a local Ray starts in-process (the embedded default) and is shut down when the
run ends; a Ray that is already initialised (a test session, a notebook) is reused and left
running. Ray's Python loggers are sent to the run's ``logs/driver.log`` for the run's
duration, and after the run the Ray session's log files written during it are copied into
``logs/`` (when the session directory is on this machine).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import ray

from kiln.errors import ConfigError
from kiln.localray import no_monitors

# Loggers whose warnings (controller polling, token authentication, deprecations) are for
# the log file, not for people watching a training run.
QUIET_LOGGERS = ("ray", "ray.train", "ray.tune", "ray.data", "ray.util", "tensorflow", "absl")
MAX_COPIED_LOG_BYTES = 20 * 1024 * 1024


@contextlib.contextmanager
def ray_logs_to(path: Path) -> Iterator[None]:
    """Route Ray's and TensorFlow's Python logging to ``path`` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers = [handler]
        logger.propagate = False
    try:
        yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate
        handler.close()


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[bool]:
    """Yield True when this call started Ray (and will shut it down), False when reusing one.

    No runtime environment is passed here: inside a Ray job that would replace the job's own
    (which carries the project's code); the trainer sets its workers' environment itself.
    """
    if ray.is_initialized():
        yield False
        return
    try:
        with contextlib.nullcontext() if address else no_monitors():
            _init(address)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise ConfigError(f"cannot join the Ray cluster at {address!r}: {e}") from e
    try:
        yield True
    finally:
        ray.shutdown()


def _init(address: str | None) -> None:
    ray.init(
        # "local": a run without an address gets its own Ray even when another one runs
        # here (`ray start`); a bare ray.init() would join that one, and stop with it.
        address=address or "local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )


def cluster_gpus() -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def copy_session_logs(destination: Path, since: float) -> int:
    """Copy the Ray session's log files touched since ``since`` into ``destination``.

    Returns how many files were copied (0 when the session's directory is not on this machine,
    e.g. when the run joined a remote cluster).
    """
    try:
        session_dir = Path(ray._private.worker._global_node.get_session_dir_path())
    except AttributeError:
        return 0
    logs = session_dir / "logs"
    if not logs.is_dir():
        return 0
    destination.mkdir(parents=True, exist_ok=True)
    copied = 0
    for item in sorted(logs.rglob("*")):
        if not item.is_file() or item.stat().st_mtime < since - 1:
            continue
        if item.stat().st_size > MAX_COPIED_LOG_BYTES:
            continue
        target = destination / item.relative_to(logs)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item, target)
        copied += 1
    return copied
