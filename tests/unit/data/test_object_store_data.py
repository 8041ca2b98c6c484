"""Datasets on an object store (a bucket on moto's S3 server on 127.0.0.1): staged into the
local cache and read by the same loaders, with clear errors for what is not there."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kiln import storage
from kiln.cli import cli
from kiln.data.info import LoadOptions
from kiln.data.loaders import load_splits
from kiln.errors import StorageError
from kiln.training import TrainConfig, preflight


@pytest.fixture
def jena_uri(s3_bucket, jena_dir, tmp_path, monkeypatch):
    """The session's synthetic Jena dataset uploaded to ``s3://<bucket>/jena``, with a fresh
    stage cache for the test."""
    monkeypatch.setenv("KILN_STAGE_DIR", str(tmp_path / "stage"))
    uri = storage.join(s3_bucket, "jena")
    storage.upload_dir(jena_dir, uri)
    return uri


SHORT = ["--sequence-length", "24"]  # the session's Jena data holds 21 days


def test_data_inspect_reads_an_s3_dataset(jena_uri, jena_dir):
    inspect = ["data", "inspect", "--task", "forecasting", *SHORT]
    remote = CliRunner().invoke(cli, [*inspect, jena_uri])
    local = CliRunner().invoke(cli, [*inspect, str(jena_dir)])
    assert remote.exit_code == 0, remote.output
    assert remote.output.startswith(f"{jena_uri}: jena layout")
    # Same loader, same bytes: everything after the first line (splits, baseline,
    # fingerprint, skipped files) is identical to inspecting the local copy.
    assert remote.output.splitlines()[1:] == local.output.splitlines()[1:]


def test_load_splits_stages_and_records_the_uri(jena_uri, jena_dir, tmp_path):
    options = LoadOptions(sequence_length=24)
    remote = load_splits("forecasting", jena_uri, options).info
    local = load_splits("forecasting", str(jena_dir), options).info
    assert remote.root == jena_uri and remote.fingerprint.root == jena_uri
    assert remote.fingerprint.sha256 == local.fingerprint.sha256
    assert remote.split_counts == local.split_counts and remote.mean == local.mean
    assert list((tmp_path / "stage").rglob("*.csv"))  # the staged copy is in the cache


def test_preflight_accepts_an_s3_dataset(jena_uri):
    config = TrainConfig(task="forecasting", model="lstm", data=jena_uri)
    assert preflight(config) == "jena"


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing", "does not exist"), ("no-bucket", "bucket 'kiln-no-such-data' does not exist")],
)
def test_missing_data_is_one_clear_error(s3_bucket, tmp_path, monkeypatch, where, message):
    monkeypatch.setenv("KILN_STAGE_DIR", str(tmp_path / "stage"))
    uri = f"{s3_bucket}/jena" if where == "missing" else "s3://kiln-no-such-data/jena"
    result = CliRunner().invoke(cli, ["data", "inspect", "--task", "forecasting", *SHORT, uri])
    assert result.exit_code != 0
    assert uri in result.output and message in result.output
    with pytest.raises(StorageError, match=message):
        preflight(TrainConfig(task="forecasting", model="lstm", data=uri))
