"""The versioned store on a real local directory, and on a real S3 API (moto's server on
127.0.0.1), which takes the object-store code path (no rename, no lock)."""

from __future__ import annotations

import json
import os

import pytest

from kiln.errors import ConfigError, IntegrityError, NotFound
from kiln.registry import LATEST, RegistryStore, parse_ref
from kiln.registry.manifest import MANIFEST_FILE, MODEL_FILE
from kiln.registry.store import sha256_bytes

ONNX = b"\x08\x07fake-onnx-bytes-for-the-store" * 10


@pytest.fixture
def store(tmp_path) -> RegistryStore:
    return RegistryStore(str(tmp_path / "registry"))


@pytest.fixture
def s3_store(s3_bucket):
    return RegistryStore(f"{s3_bucket}/registry")


def test_register_assigns_increasing_versions_and_moves_latest(store, manifest):
    first = store.register(manifest, ONNX)
    second = store.register(manifest, ONNX + b"2")
    assert (first.version, second.version) == (1, 2)
    assert store.versions("pets-seg") == [1, 2]
    assert store.latest_version("pets-seg") == 2
    assert store.names() == ["pets-seg"]
    assert [m.ref for m in store.list()] == ["pets-seg:1", "pets-seg:2"]


def test_register_records_checksum_and_size_and_lays_out_files(store, manifest, tmp_path):
    stored = store.register(manifest, ONNX)
    assert stored.sha256 == sha256_bytes(ONNX) and stored.size_bytes == len(ONNX)
    version_dir = tmp_path / "registry" / "pets-seg" / "1"
    assert sorted(p.name for p in version_dir.iterdir()) == [MANIFEST_FILE, MODEL_FILE]
    assert json.loads((version_dir / MANIFEST_FILE).read_text())["version"] == 1
    assert (tmp_path / "registry" / "pets-seg" / LATEST).read_text().strip() == "1"


def test_load_returns_the_bytes_and_manifest_round_trips(store, manifest):
    store.register(manifest, ONNX)
    loaded = store.load("pets-seg")
    assert loaded.onnx_bytes == ONNX
    assert loaded.manifest.preprocessing == manifest.preprocessing
    assert loaded.manifest.parity == manifest.parity
    assert loaded.manifest.created == manifest.created


def test_promote_moves_latest_and_keeps_every_version(store, manifest):
    store.register(manifest, ONNX)
    store.register(manifest, ONNX + b"2")
    assert store.promote("pets-seg", 1) == 1
    assert store.latest_version("pets-seg") == 1
    assert store.load("pets-seg", LATEST).onnx_bytes == ONNX
    assert store.versions("pets-seg") == [1, 2]
    # A new registration still gets the next number, not latest + 1.
    assert store.register(manifest, ONNX).version == 3


def test_register_without_latest_leaves_the_pointer(store, manifest):
    store.register(manifest, ONNX)
    store.register(manifest, ONNX + b"2", make_latest=False)
    assert store.latest_version("pets-seg") == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: bytes([b[0] ^ 0xFF]) + b[1:], id="flipped-byte"),
        pytest.param(lambda b: b + b"\x00", id="appended"),
    ],
)
def test_load_refuses_a_damaged_model(store, manifest, tmp_path, damage):
    store.register(manifest, ONNX)
    model_file = tmp_path / "registry" / "pets-seg" / "1" / MODEL_FILE
    model_file.write_bytes(damage(model_file.read_bytes()))
    with pytest.raises(IntegrityError, match=r"pets-seg:1: model.onnx is corrupted or truncated"):
        store.load("pets-seg", 1)


def test_load_refuses_a_missing_model_file(store, manifest, tmp_path):
    store.register(manifest, ONNX)
    (tmp_path / "registry" / "pets-seg" / "1" / MODEL_FILE).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        store.load("pets-seg")


def test_a_corrupted_manifest_is_an_integrity_error(store, manifest, tmp_path):
    store.register(manifest, ONNX)
    path = tmp_path / "registry" / "pets-seg" / "1" / MANIFEST_FILE
    path.write_text(path.read_text()[:40])
    with pytest.raises(IntegrityError, match="manifest of pets-seg:1 is corrupted"):
        store.manifest("pets-seg", 1)


def test_a_latest_pointer_to_nothing_is_an_integrity_error(store, manifest, tmp_path):
    store.register(manifest, ONNX)
    (tmp_path / "registry" / "pets-seg" / LATEST).write_text("7\n")
    with pytest.raises(IntegrityError, match=r"holds '7'.*kiln models promote"):
        store.load("pets-seg")


def test_unknown_models_and_versions_are_not_found(store, manifest):
    with pytest.raises(NotFound, match="'nope' is not in the registry"):
        store.load("nope")
    store.register(manifest, ONNX)
    with pytest.raises(NotFound, match="no version 5; available: 1"):
        store.load("pets-seg", 5)
    with pytest.raises(NotFound):
        store.promote("pets-seg", 5)


def test_an_empty_registry_lists_nothing(store):
    assert store.names() == [] and store.list() == []


def test_invalid_names_are_refused_before_anything_is_written(store, manifest_factory, tmp_path):
    with pytest.raises(ConfigError, match="lowercase letters"):
        store.register(manifest_factory(name="../escape"), ONNX)
    with pytest.raises(ConfigError):
        store.load("Upper")
    assert not (tmp_path / "registry").exists()


def test_an_empty_model_is_refused(store, manifest):
    with pytest.raises(IntegrityError, match="empty"):
        store.register(manifest, b"")
    assert store.names() == []


def test_staging_leftovers_are_invisible(store, manifest, tmp_path):
    leftover = tmp_path / "registry" / "pets-seg" / ".staging-dead"
    leftover.mkdir(parents=True)
    (leftover / MODEL_FILE).write_bytes(ONNX)
    (leftover / MANIFEST_FILE).write_text("{}")
    assert store.names() == []
    assert store.register(manifest, ONNX).version == 1


def test_stale_staging_directories_are_swept_on_register(store, manifest, tmp_path):
    leftover = tmp_path / "registry" / "pets-seg" / ".staging-old"
    leftover.mkdir(parents=True)
    os.utime(leftover, (1, 1))
    fresh = tmp_path / "registry" / "pets-seg" / ".staging-live"
    fresh.mkdir()
    store.register(manifest, ONNX)
    assert not leftover.exists()
    assert fresh.exists()  # may belong to a writer that is still running


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("m", ("m", LATEST)), ("m:latest", ("m", LATEST)), ("m:12", ("m", 12))],
)
def test_parse_ref(ref, expected):
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["m:x", "m:0", "m:-1"])
def test_parse_ref_refuses_bad_versions(ref):
    with pytest.raises(NotFound, match="not a positive number"):
        parse_ref(ref)


def test_object_store_path_publishes_with_the_manifest_last(s3_store, manifest):
    assert not s3_store.local
    assert s3_store.register(manifest, ONNX).version == 1
    assert s3_store.register(manifest, ONNX + b"2").version == 2
    assert s3_store.load("pets-seg").onnx_bytes == ONNX + b"2"
    s3_store.promote("pets-seg", 1)
    assert s3_store.load("pets-seg").manifest.version == 1
    # A model uploaded without its manifest (a crash between the two PUTs) is not a version.
    s3_store.fs.pipe(s3_store._path("pets-seg", 3, MODEL_FILE), ONNX)
    assert s3_store.versions("pets-seg") == [1, 2]


def test_object_store_detects_a_damaged_model(s3_store, manifest):
    s3_store.register(manifest, ONNX)
    s3_store.fs.pipe(s3_store._path("pets-seg", 1, MODEL_FILE), ONNX[:10])
    with pytest.raises(IntegrityError):
        s3_store.load("pets-seg")


def test_unknown_protocol_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be opened"):
        RegistryStore("nosuchproto://bucket/registry")


def test_an_empty_registry_uri_is_a_config_error():
    with pytest.raises(ConfigError, match="empty"):
        RegistryStore("  ")
