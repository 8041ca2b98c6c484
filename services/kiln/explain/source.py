"""Which Keras model to explain: a run's ``best.keras``, or the one a registered model came from."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln import storage
from kiln.errors import ConfigError
from kiln.runs import BEST_MODEL_FILE, RunDir


@dataclass
class Explained:
    """A loaded model and what the pictures need to say about it."""

    model: Any  # keras.Model
    task: str
    class_names: list[str]
    source: str

    @property
    def image_size(self) -> tuple[int, int, int]:
        height, width, channels = self.model.input_shape[1:4]
        return int(height), int(width), int(channels)


def from_run(run_uri: str) -> Explained:
    """The best model of the run at ``run_uri`` (a directory or an object-store prefix)."""
    import keras

    run = RunDir(run_uri)
    record = run.read_record()
    if record.status != "completed" or not run.exists(BEST_MODEL_FILE):
        raise ConfigError(f"run {run.uri} has no trained model yet (status {record.status})")
    with tempfile.TemporaryDirectory(prefix="kiln-explain-") as scratch:
        local = run.download(BEST_MODEL_FILE, Path(scratch) / BEST_MODEL_FILE)
        model = keras.models.load_model(local, compile=False)
    names = list(record.dataset_info.class_names) if record.dataset_info else []
    return _checked(Explained(model, record.task, names, run.uri))


def from_registry(registry: str, reference: str) -> Explained:
    """``NAME[:VERSION]``: the run the registered model was exported from (its manifest says)."""
    from kiln.registry import RegistryStore

    name, _, version = reference.partition(":")
    manifest = RegistryStore(registry).manifest(name, _version(version))
    checkpoint = manifest.source_checkpoint
    if not checkpoint or not storage.exists(checkpoint):
        raise ConfigError(
            f"model {manifest.ref} names no Keras checkpoint that still exists "
            f"({checkpoint or 'none recorded'}); explain its run with --run instead"
        )
    return from_run(checkpoint.rsplit("/", 1)[0])


def _version(text: str) -> int | str:
    if not text or text == "latest":
        return "latest"
    if not text.isdigit():
        raise ConfigError(f"model version {text!r} is not a number; give NAME or NAME:VERSION")
    return int(text)


def _checked(explained: Explained) -> Explained:
    shape = explained.model.input_shape
    if len(shape) != 4:
        raise ConfigError(
            f"{explained.source} is a {explained.task} model with input shape {shape}; "
            "kiln explain draws convnets over images (inputs of shape (height, width, channels))"
        )
    return explained
