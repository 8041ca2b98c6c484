"""Run by every Python process of a Ray that ``kiln serve`` started (``kiln.localray`` puts this
directory first on the ``PYTHONPATH`` they inherit): the cuts ``KILN_LEAN_RAY`` names
(``kiln.localray.lean``), then the environment's own ``sitecustomize``, if it has one, which
this module would otherwise hide."""

import os
import sys
from importlib.machinery import PathFinder
from importlib.util import module_from_spec

if os.environ.get("KILN_LEAN_RAY"):
    from kiln.localray import lean

    lean.install(os.environ["KILN_LEAN_RAY"].split(","))

_here = os.path.dirname(os.path.abspath(__file__))
_next = PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here]
)
if _next is not None and _next.loader is not None:
    _next.loader.exec_module(module_from_spec(_next))
