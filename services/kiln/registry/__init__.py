"""The versioned model registry (TF-free): manifests and the store that holds them."""

from kiln.registry.manifest import (
    ExplainGraph,
    FeatureStats,
    ImagePreprocessing,
    Manifest,
    Parity,
    TensorSpec,
    TimeseriesPreprocessing,
    TrainingStats,
)
from kiln.registry.names import LATEST, LoadedModel, parse_ref
from kiln.registry.store import RegistryStore

__all__ = [
    "LATEST",
    "ExplainGraph",
    "FeatureStats",
    "ImagePreprocessing",
    "LoadedModel",
    "Manifest",
    "Parity",
    "RegistryStore",
    "TensorSpec",
    "TimeseriesPreprocessing",
    "TrainingStats",
    "parse_ref",
]
