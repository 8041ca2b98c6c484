"""The registry's object-store rules on a real S3 API (moto's server on 127.0.0.1): claims,
cleanup of half-written versions, and a ``latest`` that only moves forward."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from kiln import storage
from kiln.registry import RegistryStore, publish
from kiln.registry.manifest import MANIFEST_FILE, MODEL_FILE

from .test_registry_crash_and_race import _CRASH

ONNX = b"\x08\x07fake-onnx" * 20


@pytest.fixture
def s3_store(s3_bucket):
    return RegistryStore(f"{s3_bucket}/registry")


def test_a_version_holds_claim_model_and_manifest(s3_store, manifest):
    stored = s3_store.register(manifest, ONNX)
    files = storage.list_dir(s3_store.at("pets-seg", 1))
    assert files == sorted([publish.CLAIM_FILE, MANIFEST_FILE, MODEL_FILE])
    assert json.loads(storage.read_bytes(s3_store.at("pets-seg", 1, MANIFEST_FILE)))["sha256"]
    assert stored.version == 1 and s3_store.load("pets-seg").onnx_bytes == ONNX


def test_a_held_claim_sends_the_writer_to_the_next_number(s3_store, manifest):
    s3_store.register(manifest, ONNX)
    # Another writer holds version 2 (claimed, still uploading): it stays invisible and the
    # next registration takes 3.
    storage.write_bytes(
        s3_store.at("pets-seg", 2, publish.CLAIM_FILE),
        json.dumps({"writer": "other", "claimed_at": 10**12}).encode(),
    )
    assert s3_store.register(manifest, ONNX + b"3").version == 3
    assert s3_store.versions("pets-seg") == [1, 3]
    assert s3_store.latest_version("pets-seg") == 3


def test_a_failed_upload_removes_its_version(s3_store, manifest, monkeypatch):
    def broken_write(self, target, data):
        raise OSError("disk on fire")

    monkeypatch.setattr(RegistryStore, "_write", broken_write)
    with pytest.raises(Exception, match="disk on fire"):
        s3_store.register(manifest, ONNX)
    monkeypatch.undo()
    assert s3_store.numbered("pets-seg") == []  # the claim went with it: 1 is free again
    assert s3_store.register(manifest, ONNX).version == 1


def test_a_writer_killed_mid_upload_is_invisible_then_swept(s3_store, manifest, monkeypatch):
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH, s3_store.uri], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "model-written"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert s3_store.numbered("crashy") == [1] and s3_store.versions("crashy") == []
    assert s3_store.names() == []
    # Young claims may belong to a live writer: the next export goes to 2...
    assert s3_store.register(manifest.model_copy(update={"name": "crashy"}), ONNX).version == 2
    # ...and once a claim is stale, a registration sweeps the abandoned version away.
    monkeypatch.setattr(publish, "STALE_SECONDS", -1.0)
    s3_store.register(manifest.model_copy(update={"name": "crashy"}), ONNX)
    assert 1 not in s3_store.numbered("crashy")
    assert s3_store.versions("crashy") == [2, 3]


def test_latest_never_moves_back_when_registrations_interleave(s3_store, manifest, monkeypatch):
    s3_store.register(manifest, ONNX, make_latest=False)
    s3_store.register(manifest, ONNX + b"2", make_latest=False)
    # Writer of version 1 reads the pointer, then writer of version 2 moves it before writer
    # 1's conditional write lands: writer 1 must find out and leave latest on 2.
    original = storage.read_versioned
    interleaved = []

    def read_then_let_the_other_writer_in(uri):
        seen = original(uri)
        if not interleaved:
            interleaved.append(uri)
            publish.advance_latest(s3_store, "pets-seg", 2)
        return seen

    monkeypatch.setattr(publish.storage, "read_versioned", read_then_let_the_other_writer_in)
    publish.advance_latest(s3_store, "pets-seg", 1)
    monkeypatch.undo()
    assert interleaved and s3_store.latest_version("pets-seg") == 2
    # A deliberate promotion may still roll back.
    s3_store.promote("pets-seg", 1)
    assert s3_store.latest_version("pets-seg") == 1
