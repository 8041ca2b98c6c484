"""Every `sh` and `python` block of docs/api.md and README.md runs against a live
Serve application, so the documented commands cannot rot.

The server holds the tiny real ONNX models of tests/unit/serving/tiny_models.py under the demo's
model names; the example files (cat.jpg, pet.jpg, the Jena CSV under demo-output/) are written
into the working directory the blocks run in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
README = ROOT / "README.md"
# Runnable blocks are the ones tagged sh or python; plain ``` blocks are shown, not run.
BLOCKS = [
    block
    for page in (DOC, README)
    for block in re.findall(r"```(sh|python)\n(.*?)```", page.read_text(), flags=re.S)
]


def _tiny_models():
    path = ROOT / "tests" / "unit" / "serving" / "tiny_models.py"
    spec = importlib.util.spec_from_file_location("tiny_models", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from kiln.data.synthetic import write_synthetic
    from kiln.registry import RegistryStore

    tiny = _tiny_models()
    root = tmp_path_factory.mktemp("docs")
    store = RegistryStore(str(root / "registry"))
    explainer = tiny.explainer()  # the classifier's Grad-CAM stand-in, for /explain's examples
    classification = tiny.with_explainer(
        tiny.manifest("classification", "demo-classification"), explainer
    )
    store.register(classification, tiny.classifier(), extras={"explain.onnx": explainer})
    store.register(tiny.manifest("segmentation", "demo-segmentation"), tiny.segmenter())
    store.register(tiny.manifest("forecasting", "demo-forecasting"), tiny.forecaster())
    (root / "cat.jpg").write_bytes(tiny.png((230, 20, 20), size=64, fmt="JPEG"))
    (root / "pet.jpg").write_bytes(tiny.png((20, 20, 230), size=64, fmt="JPEG"))
    write_synthetic("forecasting", root / "demo-output" / "data" / "forecasting", size=20)
    return root


@pytest.fixture(scope="module")
def server(ray_local, workdir):
    from ray import serve

    from kiln.serving.app import build_app
    from kiln.serving.launch import wait_ready

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    names = {t: f"demo-{t}" for t in ("classification", "segmentation", "forecasting")}
    args = {
        "registry": str(workdir / "registry"),
        "auth_token_env": None,
        "models": {task: {"name": name} for task, name in names.items()},
    }
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(args), name="kiln", route_prefix="/")
    wait_ready(f"http://127.0.0.1:{port}", 120)
    yield port
    serve.shutdown()


def test_the_doc_has_examples_for_every_task():
    text = "\n".join(code for _, code in BLOCKS)
    for route in (
        "/v1/classification/predict",
        "/v1/segmentation/predict",
        "/v1/forecasting/predict",
        "/v1/classification/explain",
        "/v2/health/ready",
        "kiln predict",
    ):
        assert route in text


@pytest.mark.parametrize(("kind", "code"), BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_documented_example_runs(kind, code, server, workdir):
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{server}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = ["bash", "-e", "-c", code] if kind == "sh" else [sys.executable, "-c", code]
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert "error" not in done.stdout.lower(), done.stdout


def test_the_documented_answers_are_what_the_server_says(server, workdir):
    reply = httpx.post(
        f"http://127.0.0.1:{server}/v1/classification/predict",
        content=(workdir / "cat.jpg").read_bytes(),
        headers={"content-type": "image/jpeg"},
    )
    answer = reply.json()["predictions"][0]
    documented = json.loads(
        re.search(r'```json\n(\{"predictions".*?)\n```', DOC.read_text(), flags=re.S).group(1)
    )
    assert set(answer) == set(documented["predictions"][0])
    assert answer["label"] == "cat"
