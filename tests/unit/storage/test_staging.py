"""Staging datasets from S3 (moto on 127.0.0.1) into a local cache keyed by ETag and size."""

from __future__ import annotations

import pytest

from kiln import storage
from kiln.errors import StorageError
from kiln.storage import staging


@pytest.fixture
def fetches(monkeypatch):
    """The object URIs each stage actually downloaded."""
    seen: list[str] = []
    original = staging.fetch

    def counting(uri, target, callback=None):
        seen.append(uri)
        return original(uri, target, callback)

    monkeypatch.setattr(staging, "fetch", counting)
    return seen


def test_local_paths_are_returned_as_they_are(tmp_path):
    assert storage.stage(str(tmp_path)) == tmp_path
    assert storage.stage(f"file://{tmp_path}") == tmp_path


def test_directory_cache_hit_and_miss_on_etag_change(s3_bucket, tmp_path, fetches):
    data = storage.join(s3_bucket, "pets")
    storage.write_bytes(storage.join(data, "cat", "1.png"), b"cat one")
    storage.write_bytes(storage.join(data, "dog", "1.png"), b"dog one")
    cache = tmp_path / "cache"

    local = storage.stage(data, cache)
    assert local.name == "pets" and (local / "cat" / "1.png").read_bytes() == b"cat one"
    assert len(fetches) == 2

    fetches.clear()
    assert storage.stage(data, cache) == local
    assert fetches == []  # unchanged ETags and sizes: nothing downloaded

    storage.write_bytes(storage.join(data, "cat", "1.png"), b"cat two")  # same size, new ETag
    storage.delete(storage.join(data, "dog", "1.png"))
    storage.stage(data, cache)
    assert fetches == [storage.join(data, "cat", "1.png")]
    assert (local / "cat" / "1.png").read_bytes() == b"cat two"
    assert not (local / "dog" / "1.png").exists()


def test_single_file_keeps_its_name_and_shows_progress(s3_bucket, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(staging, "PROGRESS_MIN_BYTES", 1)
    uri = storage.join(s3_bucket, "jena", "jena_climate.csv")
    storage.write_bytes(uri, b"Date Time,T (degC)\n" * 1000)
    local = storage.stage(uri, tmp_path)
    assert local.name == "jena_climate.csv" and local.read_bytes().startswith(b"Date Time")
    err = capsys.readouterr().err
    assert f"staging {uri}:" in err and "(100%)" in err and f"staged {uri}" in err


def test_missing_dataset_and_bucket(s3_bucket, tmp_path):
    uri = storage.join(s3_bucket, "nothing-here")
    with pytest.raises(StorageError, match=f"^{uri} does not exist"):
        storage.stage(uri, tmp_path)
    with pytest.raises(StorageError, match="bucket 'kiln-none-such' does not exist"):
        storage.stage("s3://kiln-none-such/jena", tmp_path)


def test_concurrent_stagers_on_one_node_download_each_object_once(s3_bucket, tmp_path, fetches):
    """Ray Train workers on one node stage the same URI at once: they take turns on the
    cache's lock, the first downloads, the others find the cache complete."""
    import threading

    data = storage.join(s3_bucket, "jena")
    storage.write_bytes(storage.join(data, "jena_climate.csv"), b"Date Time,p (mbar)\n" * 500)
    results = []

    def worker() -> None:
        results.append(storage.stage(data, tmp_path / "node-cache"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert fetches == [storage.join(data, "jena_climate.csv")]
    assert (results[0] / "jena_climate.csv").read_bytes().startswith(b"Date Time")
