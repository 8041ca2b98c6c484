"""The operator's layering at run time: loading the whole operator pulls in neither TensorFlow,
Keras nor Ray (its image stays small). The static rules (only ``kiln_operator.kube`` imports
``kubernetes``; what the operator may import from ``kiln``) are import-linter contracts in
pyproject.toml, checked by ``make lint``."""

from __future__ import annotations

import subprocess
import sys

from kiln_operator.__main__ import parse_args


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
