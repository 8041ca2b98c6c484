"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# Keep TensorFlow quiet and on the CPU in tests (there is no GPU here).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose infrastructure is missing, except under CI, where that is a failure."""
    if in_ci():
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session (starting Ray costs seconds). Tests that use Serve
    must shut Serve down when they finish so training tests find their CPUs free."""
    import ray

    if not ray.is_initialized():
        ray.init(
            num_cpus=4,  # logical CPUs: 2 training workers + Serve replicas fit on 2 real cores
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    yield ray
    ray.shutdown()


@pytest.fixture
def registered():
    """``registered(registry, name, run_id)`` → the version a fake ``kiln export`` of run
    ``run_id`` got in a real (local) registry store; the model bytes are not a real ONNX file
    (the operator only reads manifests)."""

    def register(registry: str, name: str, run_id: str) -> int:
        from kiln.registry import Manifest, RegistryStore, TensorSpec, TimeseriesPreprocessing

        manifest = Manifest(
            name=name,
            task="forecasting",
            architecture="lstm",
            inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, 120, 14])],
            outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 1])],
            preprocessing=TimeseriesPreprocessing(
                columns=["T (degC)"],
                mean=[9.0],
                std=[8.0],
                sequence_length=120,
                sampling_rate=6,
                target_column="T (degC)",
                horizon_hours=24,
            ),  # fmt: skip
            source_run=run_id,
        )
        return RegistryStore(registry).register(manifest, b"not-onnx-" + run_id.encode()).version

    return register
