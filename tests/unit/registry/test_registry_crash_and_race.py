"""Real processes against one registry (a local directory, or a bucket on a real S3 API: moto's
server on 127.0.0.1): racing registrations, and a writer killed mid-write."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from kiln.registry import RegistryStore
from kiln.registry.manifest import MODEL_FILE

# Each child registers one version whose bytes name the child, so the test can tell that no
# version was overwritten by another writer.
_REGISTER = textwrap.dedent(
    """
    import sys
    from kiln.registry import ImagePreprocessing, Manifest, RegistryStore, TensorSpec
    registry, tag, barrier = sys.argv[1], sys.argv[2], sys.argv[3]
    import os, time
    while not os.path.exists(barrier):  # start every writer at the same moment
        time.sleep(0.005)
    spec = TensorSpec(name="input", dtype="float32", shape=[-1, 8, 8, 1])
    manifest = Manifest(
        name="racer", task="classification", architecture="mnist_convnet",
        inputs=[spec], outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 10])],
        preprocessing=ImagePreprocessing(height=8, width=8, channels=1, channel_order="L"),
        source_run=tag,
    )
    stored = RegistryStore(registry).register(manifest, f"model-from-{tag}".encode() * 50)
    print(stored.version)
    """
)

# A writer that stops between writing model.onnx and publishing the version, so the parent
# can SIGKILL it there. The pause is patched in from outside: production code has no hook.
_CRASH = textwrap.dedent(
    """
    import sys, time
    from kiln.registry import ImagePreprocessing, Manifest, RegistryStore, TensorSpec
    from kiln.registry import store as store_module

    original_write = store_module.RegistryStore._write

    def write_then_hang(self, path, data):
        original_write(self, path, data)
        if path.endswith("model.onnx"):
            print("model-written", flush=True)
            time.sleep(120)

    store_module.RegistryStore._write = write_then_hang
    spec = TensorSpec(name="input", dtype="float32", shape=[-1, 8, 8, 1])
    manifest = Manifest(
        name="crashy", task="classification", architecture="mnist_convnet",
        inputs=[spec], outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 10])],
        preprocessing=ImagePreprocessing(height=8, width=8, channels=1, channel_order="L"),
    )
    RegistryStore(sys.argv[1]).register(manifest, b"onnx" * 1000)
    """
)


@pytest.fixture(params=["local", "s3"])
def registry_uri(request, tmp_path) -> str:
    """The same race on a local directory (file lock) and on S3 (conditional creates). The
    S3 writers reach moto through the environment the s3_server fixture exported."""
    if request.param == "s3":
        return f"{request.getfixturevalue('s3_bucket')}/registry"
    return str(tmp_path / "registry")


def test_racing_registrations_get_distinct_versions(tmp_path, registry_uri):
    registry = registry_uri
    barrier = tmp_path / "go"
    writers = 4
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTER, str(registry), f"w{i}", str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    barrier.touch()
    results = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), [err for _, err in results]
    claimed = sorted(int(out.strip()) for out, _ in results)
    assert claimed == list(range(1, writers + 1))

    store = RegistryStore(str(registry))
    assert store.versions("racer") == claimed
    owners = {store.load("racer", v).manifest.source_run for v in claimed}
    assert owners == {f"w{i}" for i in range(writers)}  # every writer kept its own version
    for version in claimed:
        loaded = store.load("racer", version)  # sha256 verified: bytes match their manifest
        assert loaded.onnx_bytes.startswith(f"model-from-{loaded.manifest.source_run}".encode())
    assert store.latest_version("racer") == writers  # latest never left on an older version


def test_a_killed_export_leaves_no_visible_version(tmp_path, manifest_factory):
    registry = tmp_path / "registry"
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH, str(registry)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "model-written", child.stderr.read() if child.stderr else ""
        # The model bytes are on disk, under a staging name, when the writer dies.
        staged = list((registry / "crashy").glob(f".staging-*/{MODEL_FILE}"))
        assert len(staged) == 1
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    store = RegistryStore(str(registry))
    assert store.versions("crashy") == []
    assert store.names() == []
    assert [p.name for p in (registry / "crashy").iterdir() if p.name.isdigit()] == []
    # The dead writer's lock died with it: the next export registers version 1 at once.
    stored = store.register(manifest_factory(name="crashy"), b"good" * 10)
    assert stored.version == 1
    assert store.load("crashy").onnx_bytes == b"good" * 10


def test_a_writer_killed_after_staging_both_files_publishes_nothing(tmp_path):
    script = _CRASH.replace('path.endswith("model.onnx")', 'path.endswith("manifest.json")')
    registry = tmp_path / "registry"
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(registry)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "model-written"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert RegistryStore(str(registry)).versions("crashy") == []
