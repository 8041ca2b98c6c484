"""kiln.localray.lean, as every Python process of a serving-only Ray runs it: a fresh
interpreter with ``site/`` on its PYTHONPATH, as Ray starts its processes under `kiln serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kiln import localray

PROBE = """
import builtins, sys
try:
    import pandas
    print("pandas imported")
except ImportError:
    print("pandas refused")
print("own sitecustomize", getattr(builtins, "own_sitecustomize_ran", False))
print("import hooks", [type(f).__name__ for f in sys.meta_path if type(f).__name__ == "AfterImport"])
if "--ray" in sys.argv:
    from ray.serve._private.proxy_state import ProxyStateManager
    skipped = ProxyStateManager._start_fallback_proxy_if_needed.__name__ == "<lambda>"
    print("fallback proxy", "skipped" if skipped else "started")
    import ray.dashboard.agent
    from ray.dashboard.utils import DashboardAgentModule, get_all_modules
    print("agent modules", sorted(m.__name__ for m in get_all_modules(DashboardAgentModule)))
"""


def run_probe(tmp_path: Path, cuts: str | None, *flags: str) -> list[str]:
    own = tmp_path / "own"  # an environment's own sitecustomize, further down the path
    own.mkdir(exist_ok=True)
    (own / "sitecustomize.py").write_text(
        "import builtins\nbuiltins.own_sitecustomize_ran = True\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KILN_LEAN_RAY"}
    path = [str(own), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(path)
    if cuts is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(localray.LEAN_SITE), env["PYTHONPATH"]])
        env["KILN_LEAN_RAY"] = cuts
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *flags], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_a_lean_process_skips_pandas_the_fallback_proxy_and_the_agents_other_modules(tmp_path):
    lines = run_probe(tmp_path, "pandas,fallback-proxy,agent-modules", "--ray")
    assert lines == [
        "pandas refused",
        "own sitecustomize True",  # still run, not hidden by Kiln's
        "import hooks ['AfterImport']",
        "fallback proxy skipped",
        "agent modules ['HealthzAgent', 'ReporterAgent']",
    ]


def test_without_the_cuts_a_process_is_left_alone(tmp_path):
    # Without KILN_LEAN_RAY nothing is installed: no import hook patches Ray's modules.
    lines = run_probe(tmp_path, None)
    assert lines == ["pandas imported", "own sitecustomize True", "import hooks []"]


def test_lean_environment_keeps_the_fallback_proxy_for_apps_that_scale_to_zero():
    assert "fallback-proxy" in localray.lean_environment(False)["KILN_LEAN_RAY"]
    assert "fallback-proxy" not in localray.lean_environment(True)["KILN_LEAN_RAY"]
    path = localray.lean_environment(False)["PYTHONPATH"].split(os.pathsep)
    assert path[0] == str(localray.LEAN_SITE) and path.count(str(localray.LEAN_SITE)) == 1


def test_a_ray_release_the_cuts_were_not_checked_against_starts_whole(monkeypatch):
    from kiln.localray import lean

    assert lean.ray_is_checked()  # the Ray this suite runs is the checked one
    monkeypatch.setattr(lean, "CHECKED_RAY", ((2, 61), (2, 62)))
    assert not lean.ray_is_checked()
    assert localray.lean_environment(False) == {}
