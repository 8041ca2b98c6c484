"""kiln.storage's single-object API against a real S3 API (moto's server on 127.0.0.1) and
the local filesystem."""

from __future__ import annotations

import os
import threading

import pytest

from kiln import storage
from kiln.errors import StorageError
from kiln.storage.arrow import pyarrow_filesystem


@pytest.fixture(params=["s3", "local"])
def root(request, tmp_path):
    """The same tests on an S3 bucket and in a local directory."""
    if request.param == "s3":
        return request.getfixturevalue("s3_bucket")
    return str(tmp_path / "store")


def test_uris():
    assert storage.is_remote("s3://b/k") and storage.is_remote("gs://b/k")
    assert not storage.is_remote("/tmp/x") and not storage.is_remote("file:///tmp/x")
    assert storage.join("s3://b/", "runs/", "r1", "run.json") == "s3://b/runs/r1/run.json"
    assert storage.join("/tmp/a", "b") == "/tmp/a/b"
    fs, path = storage.filesystem("s3://bucket/a/b")
    assert path == "bucket/a/b" and "s3" in fs.protocol


def test_round_trip_list_exists_delete(root):
    storage.write_bytes(storage.join(root, "a", "x.bin"), b"x" * 10)
    storage.write_bytes(storage.join(root, "a", "y.bin"), b"y")
    storage.write_bytes(storage.join(root, "a", "x.bin"), b"new")  # replaces
    assert storage.read_bytes(storage.join(root, "a", "x.bin")) == b"new"
    assert storage.list_dir(storage.join(root, "a")) == ["x.bin", "y.bin"]
    assert storage.list_dir(storage.join(root, "nothing")) == []
    assert storage.exists(storage.join(root, "a", "y.bin"))
    assert storage.exists(storage.join(root, "a"))
    assert not storage.exists(storage.join(root, "a", "z.bin"))
    storage.delete(storage.join(root, "a", "y.bin"))
    storage.delete(storage.join(root, "a", "y.bin"))  # missing is not an error
    assert storage.list_dir(storage.join(root, "a")) == ["x.bin"]
    storage.delete(storage.join(root, "a"), recursive=True)
    assert not storage.exists(storage.join(root, "a", "x.bin"))


def test_put_if_absent_refuses_the_second_writer(root):
    uri = storage.join(root, "claims", "7")
    assert storage.put_if_absent(uri, b"first") is True
    assert storage.put_if_absent(uri, b"second") is False
    assert storage.read_bytes(uri) == b"first"


def test_put_if_absent_has_one_winner_among_concurrent_writers(root):
    uri = storage.join(root, "claims", "race")
    results: dict[int, bool] = {}

    def claim(i: int) -> None:
        results[i] = storage.put_if_absent(uri, f"writer {i}".encode())

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(results) == 8 and len(winners) == 1
    assert storage.read_bytes(uri) == f"writer {winners[0]}".encode()


def test_local_write_is_atomic_when_it_fails_midway(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    storage.write_bytes(str(target), b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match="run.json"):
        storage.write_bytes(str(target), b"new and longer")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["run.json"]  # no temporary file left behind


def test_s3_write_that_fails_leaves_the_previous_object(s3_bucket, faulty_proxy, fast_retries):
    uri = storage.join(s3_bucket, "run.json")
    storage.write_bytes(uri, b"old")
    faulty_proxy(fail=100, kind="reset")  # every request dropped from here on
    with pytest.raises(StorageError):
        storage.write_bytes(uri, b"new")
    faulty_proxy(fail=0)
    assert storage.read_bytes(uri) == b"old"


def test_upload_and_download_a_directory(s3_bucket, tmp_path):
    src = tmp_path / "run"
    (src / "checkpoints" / "epoch_1").mkdir(parents=True)
    (src / "run.json").write_text("{}")
    (src / "checkpoints" / "epoch_1" / "weights.h5").write_bytes(b"\0" * 1000)
    uri = storage.join(s3_bucket, "runs", "r1")
    assert storage.upload_dir(src, uri) == ["checkpoints/epoch_1/weights.h5", "run.json"]
    assert storage.list_dir(uri) == ["checkpoints", "run.json"]
    dst = tmp_path / "copy"
    storage.download_dir(uri, dst)
    assert (dst / "run.json").read_text() == "{}"
    assert (dst / "checkpoints" / "epoch_1" / "weights.h5").read_bytes() == b"\0" * 1000


def test_pyarrow_filesystem_sees_the_same_objects(s3_bucket):
    import pyarrow.fs as pafs

    storage.write_bytes(storage.join(s3_bucket, "ckpt", "a.txt"), b"abc")
    fs, path = pyarrow_filesystem(storage.join(s3_bucket, "ckpt"))
    assert isinstance(fs, pafs.FileSystem) and path == s3_bucket[5:] + "/ckpt"
    with fs.open_output_stream(path + "/b.txt") as f:
        f.write(b"written by pyarrow")
    assert storage.read_bytes(storage.join(s3_bucket, "ckpt", "b.txt")) == b"written by pyarrow"
    assert fs.get_file_info(path + "/a.txt").size == 3


def test_write_if_unchanged_refuses_a_stale_version(root):
    uri = storage.join(root, "latest")
    assert storage.read_versioned(uri) is None
    assert storage.write_if_unchanged(uri, b"1", None) is True
    assert storage.write_if_unchanged(uri, b"x", None) is False  # exists now
    content, tag = storage.read_versioned(uri)
    assert content == b"1"
    assert storage.write_if_unchanged(uri, b"2", tag) is True
    assert storage.write_if_unchanged(uri, b"3", tag) is False  # another writer got there first
    assert storage.read_bytes(uri) == b"2"
