"""One run's directory at a run URI: its files written whole, its record read back typed.

Every read and write goes through the storage layer, so a run on ``s3://`` behaves like one in
a local directory: a file is either there whole or not at all (a temporary file renamed on
disk; one PUT on an object store), and readers never see half a ``run.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kiln import storage
from kiln.config import format_validation_error, validate
from kiln.errors import ConfigError, DataError, NotFound, StorageError
from kiln.runs.files import CONFIG_FILE, METRICS_FILE, RECORD_FILE
from kiln.runs.record import RunRecord
from kiln.storage.uris import local_path

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def run_uri(runs: str | Path, run_id: str) -> str:
    """Where run ``run_id`` lives under the runs location ``runs`` (a directory or a URI)."""
    return storage.join(str(runs), run_id)


class RunDir:
    """One run, at a local directory or an object-store prefix."""

    def __init__(self, uri: str | Path) -> None:
        self.uri = str(uri).rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"RunDir({self.uri!r})"

    @property
    def run_id(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    @property
    def is_remote(self) -> bool:
        return storage.is_remote(self.uri)

    @property
    def local(self) -> Path | None:
        """The run's directory on this machine, or None when the run lives on object storage."""
        return None if self.is_remote else Path(local_path(self.uri))

    def path(self, name: str) -> str:
        """The URI (or local path) of one of the run's files."""
        return storage.join(self.uri, name)

    def exists(self, name: str = "") -> bool:
        """Whether the run holds ``name`` (or, with no name, whether the run exists at all)."""
        return storage.exists(self.path(name) if name else self.uri)

    def read_bytes(self, name: str) -> bytes:
        try:
            return storage.read_bytes(self.path(name))
        except StorageError as e:
            if e.status == 404:
                raise NotFound(f"run {self.uri} has no {name}") from e
            raise

    def write_bytes(self, name: str, data: bytes) -> None:
        storage.write_bytes(self.path(name), data)

    def upload(self, local_file: Path, name: str) -> None:
        """Copy a file written to local scratch into the run (whole, or not at all)."""
        self.write_bytes(name, Path(local_file).read_bytes())

    def upload_tree(self, local_dir: Path, name: str) -> None:
        """Copy every file under ``local_dir`` into the run under ``name/`` (for logs)."""
        if local_dir.is_dir():
            storage.upload_dir(local_dir, self.path(name))

    def download(self, name: str, destination: Path) -> Path:
        """Copy one of the run's files to ``destination`` on this machine."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(self.read_bytes(name))
        return destination

    @classmethod
    def create(cls, runs: str | Path, run_id: str, config: BaseModel) -> RunDir:
        """A fresh run holding ``config.yaml``; refuses to overwrite another run."""
        run = cls(run_uri(runs, run_id))
        if run.exists(RECORD_FILE) or run.exists(CONFIG_FILE):
            raise ConfigError(
                f"run directory {run.uri} already holds a run; choose another --run-id "
                f"or continue it with --resume {run.uri}"
            )
        run.write_config(config)
        return run

    def write_config(self, config: BaseModel) -> None:
        text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        self.write_bytes(CONFIG_FILE, text.encode())

    def read_config(self, model: type[ConfigT]) -> ConfigT:
        if not self.exists(CONFIG_FILE):
            raise NotFound(f"{self.uri} is not a run directory: it has no {CONFIG_FILE}")
        data = yaml.safe_load(self.read_bytes(CONFIG_FILE)) or {}
        return validate(model, data, source=self.path(CONFIG_FILE))

    def write_record(self, record: RunRecord) -> None:
        self.write_bytes(RECORD_FILE, record.model_dump_json(indent=2).encode())

    def read_record(self) -> RunRecord:
        """The typed ``run.json``, or NotFound / DataError naming the file and the problem."""
        if not self.exists(RECORD_FILE):
            raise NotFound(f"{self.uri} is not a run directory: it has no {RECORD_FILE}")
        where = self.path(RECORD_FILE)
        try:
            return RunRecord.model_validate(json.loads(self.read_bytes(RECORD_FILE)))
        except json.JSONDecodeError as e:
            raise DataError(f"{where} is not valid JSON: {e}") from e
        except ValidationError as e:
            raise DataError(
                f"{where} is not a Kiln run record: {format_validation_error(e)}"
            ) from e

    def write_metrics(self, history: dict[str, list[float]]) -> None:
        """Keras-History style: one list per metric, plus the 1-based epoch numbers."""
        epochs = len(next(iter(history.values()), []))
        data = {"epoch": list(range(1, epochs + 1)), **history}
        self.write_bytes(METRICS_FILE, json.dumps(data, indent=2).encode())


def list_runs(runs: str | Path) -> list[RunRecord]:
    """Every run under ``runs`` with a readable record, newest first."""
    records = []
    for name in storage.list_dir(str(runs)):
        run = RunDir(run_uri(runs, name))
        if not run.exists(RECORD_FILE):
            continue
        try:
            records.append(run.read_record())
        except (DataError, NotFound, OSError):
            continue
    return sorted(records, key=lambda r: r.timings.get("started", ""), reverse=True)
