"""Manifests for registry tests: small, valid, and different per call."""

from __future__ import annotations

import pytest

from kiln.registry import ImagePreprocessing, Manifest, Parity, TensorSpec


def make_manifest(name: str = "pets-seg", **changes) -> Manifest:
    fields = dict(
        name=name,
        task="segmentation",
        architecture="segmentation_convnet",
        inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, 32, 32, 3])],
        outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 32, 32, 3])],
        preprocessing=ImagePreprocessing(
            height=32, width=32, channels=3, class_names=["foreground", "background", "outline"]
        ),
        source_run="run-1",
        metrics={"val_accuracy": 0.5},
        op_summary={"Conv": 4},
        parity=Parity(max_abs_diff=1e-6, atol=1e-4, samples=8),
    )
    fields.update(changes)
    return Manifest(**fields)


@pytest.fixture
def manifest() -> Manifest:
    return make_manifest()


@pytest.fixture
def manifest_factory():
    return make_manifest
