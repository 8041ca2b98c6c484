"""The operator's layering, checked: one module talks to the Kubernetes API, and loading the
whole operator pulls in neither TensorFlow, Keras nor Ray (its image stays small)."""

from __future__ import annotations

import ast
import subprocess
import sys

import kiln_operator
from kiln_operator.__main__ import parse_args

PACKAGE = kiln_operator.CRD_DIR.parent


def imported_roots(path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_kube_module_imports_the_kubernetes_client():
    importers = {p.name for p in PACKAGE.glob("*.py") if "kubernetes" in imported_roots(p)}
    assert importers == {"kube.py"}


def test_loading_the_operator_imports_no_tensorflow_keras_or_ray():
    code = (
        "import sys, kiln_operator.handlers, kiln_operator.versions, kiln.registry;"
        "print(sorted(m for m in ('tensorflow', 'keras', 'ray', 'tf2onnx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_entry_point_watches_all_namespaces_unless_told():
    assert parse_args([]).namespace == []
    args = parse_args(["-n", "team-a", "--namespace", "team-b", "--liveness", "http://0.0.0.0:9/h"])
    assert (args.namespace, args.liveness) == (["team-a", "team-b"], "http://0.0.0.0:9/h")
