"""The versioned model registry (TF-free): manifests and the store that holds them."""

from kiln.registry.manifest import (
    ImagePreprocessing,
    Manifest,
    Parity,
    TensorSpec,
    TimeseriesPreprocessing,
)
from kiln.registry.names import LATEST, LoadedModel, parse_ref
from kiln.registry.store import RegistryStore

__all__ = [
    "LATEST",
    "ImagePreprocessing",
    "LoadedModel",
    "Manifest",
    "Parity",
    "RegistryStore",
    "TensorSpec",
    "TimeseriesPreprocessing",
    "parse_ref",
]
