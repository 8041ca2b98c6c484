"""Which registry version a finished TrainingJob registered.

The RayJob's entrypoint runs ``kiln export <runs URI>/<job name> --registry R --name N``,
and ``kiln export`` records the run it exported in the manifest's ``source_run``. When the
RayJob succeeds, the operator reads the registry (``kiln.registry``: TF-free and Ray-free, the
same store serving reads) and takes the newest version of ``N`` whose ``source_run`` names that
run. The registry must therefore be reachable from the operator (a shared bucket, or a volume);
where it is not, the TrainingJob still succeeds and its ``ModelRegistered`` condition says why
the version is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from kiln.errors import KilnError, NotFound


@dataclass(frozen=True)
class Lookup:
    version: int | None
    message: str


def names_run(source_run: str, run_id: str) -> bool:
    """True when ``source_run`` is the run id itself or a path through its run directory."""
    if not source_run:
        return False
    return source_run == run_id or run_id in PurePosixPath(source_run.rstrip("/")).parts


def registered_version(registry: str, name: str, run_id: str) -> Lookup:
    """The version of ``name`` exported from run ``run_id``, or None with the reason."""
    from kiln.registry import RegistryStore  # fsspec and friends only when a job finishes

    try:
        store = RegistryStore(registry)
        versions = sorted(store.versions(name), reverse=True)
        for version in versions:
            if names_run(store.manifest(name, version).source_run, run_id):
                return Lookup(version, f"registered as {name}:{version}")
    except NotFound:
        versions = []
    except (KilnError, OSError, ValueError) as e:
        return Lookup(None, f"could not read registry {registry}: {e}")
    return Lookup(
        None,
        f"no version of {name!r} in {registry} names run {run_id!r} "
        f"(versions present: {versions or 'none'})",
    )
