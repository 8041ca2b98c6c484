"""The book's Keras models. This ``__init__`` stays TF-free: the catalog names the
architectures; ``kiln.models.build.build_model`` imports Keras when a model is built."""

from kiln.models.catalog import ARCHITECTURES, Architecture, check, classification_head, names

__all__ = ["ARCHITECTURES", "Architecture", "check", "classification_head", "names"]
