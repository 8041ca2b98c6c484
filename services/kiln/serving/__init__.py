"""Serving (TF-free): onnxruntime behind Ray Serve, the friendly API and Open Inference Protocol v2.

Import ``kiln.serving.app:build_app`` to get the Serve application; ``ServeArgs`` is its typed
argument model.
"""

from kiln.serving.config import ModelChoice, RuntimeConfig, ServeArgs

__all__ = ["ModelChoice", "RuntimeConfig", "ServeArgs"]
