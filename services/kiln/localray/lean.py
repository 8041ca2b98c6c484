"""What the Python processes of a Ray started only to serve leave out (``kiln.localray``).

Ray starts those processes itself (the dashboard agent, Serve's controller, HAProxy's manager,
each replica), so the one door into all of them is the ``sitecustomize`` module every Python
interpreter imports at start: ``kiln.localray`` puts ``site/`` first on the ``PYTHONPATH`` Ray's
processes inherit and names the cuts in ``KILN_LEAN_RAY``; ``site/sitecustomize.py`` calls
:func:`install` with them. Each cut is made when the module it concerns is first imported, so a
process that never imports that module pays nothing for it:

- ``pandas``: never imported. Serve imports it, and pyarrow beneath it, in every one of its
  processes only to encode DataFrames as JSON, which Kiln never returns;
- ``fallback-proxy``: Serve's controller starts no fallback proxy. With HAProxy as the
  ingress, Serve keeps its Python proxy running beside it for an application with no replica
  to route to (one scaled to zero); a `kiln serve` that never scales to zero does not need it
  (``kiln.serving.launch`` keeps it when ``min_replicas`` is 0);
- ``agent-modules``: the dashboard agent loads only what serving uses, the metrics reporter
  and its health check. By default it imports every module under ``ray.dashboard.modules``
  (the jobs, logs and events agents, and the dashboard head's modules as well) to find its
  own among them, and the raylet, so ``ray.init``, waits for it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

CUTS = ("pandas", "fallback-proxy", "agent-modules")
# The Ray releases these cuts were written and tested against: [2.60, 2.61). The cuts reach into
# Ray's internals; outside this range a serving Ray starts whole, as Ray itself would.
CHECKED_RAY = ((2, 60), (2, 61))
AGENT_MODULES = (
    "ray.dashboard.modules.reporter.reporter_agent",
    "ray.dashboard.modules.reporter.healthz_agent",
)


def ray_is_checked() -> bool:
    """Whether the installed Ray is a release the cuts (and ``kiln.serving.launch``'s start of
    Serve's controller) were checked against; read without importing Ray."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version("ray").split(".")[:2])
    low, high = CHECKED_RAY
    return low <= (major, minor) < high


def install(cuts: Sequence[str]) -> None:
    if "pandas" in cuts and "pandas" not in sys.modules:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` fails
    patches: dict[str, Callable[[ModuleType], None]] = {}
    if "fallback-proxy" in cuts:
        patches["ray.serve._private.proxy_state"] = no_fallback_proxy
    if "agent-modules" in cuts:
        patches["ray.dashboard.utils"] = serving_agent_modules_only
    if patches:
        sys.meta_path.insert(0, AfterImport(patches))


def no_fallback_proxy(proxy_state: ModuleType) -> None:
    manager = proxy_state.ProxyStateManager
    setattr(manager, "_start_fallback_proxy_if_needed", lambda self, *_: None)  # noqa: B010


def serving_agent_modules_only(utils: ModuleType) -> None:
    find_all = utils.get_all_modules

    def get_all_modules(module_type: type) -> list[type]:
        if module_type.__name__ != "DashboardAgentModule":
            return list(find_all(module_type))
        for name in AGENT_MODULES:
            importlib.import_module(name)
        found: list[type] = module_type.__subclasses__()
        return [m for m in found if m.__module__ in AGENT_MODULES]

    setattr(utils, "get_all_modules", get_all_modules)  # noqa: B010


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``patches[name](module)`` right after module ``name`` is executed, before anything
    that imported it can use it."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self.patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        patch = self.patches.pop(name, None)
        if patch is None:
            return None
        spec = importlib.util.find_spec(name)  # the other finders' answer (``name`` is popped)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
