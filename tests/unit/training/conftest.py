"""Small datasets for the training unit tests, written by Kiln's own synthetic writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.data.synthetic import write_synthetic


@pytest.fixture(scope="session")
def jena_dir(tmp_path_factory) -> Path:
    return write_synthetic("forecasting", tmp_path_factory.mktemp("jena") / "d", 20, seed=0).out


@pytest.fixture(scope="session")
def pets_dir(tmp_path_factory) -> Path:
    return write_synthetic("segmentation", tmp_path_factory.mktemp("pets") / "d", 8, seed=0).out
