"""Datasets for the training integration tests: Kiln's synthetic writers, in the real layouts,
sized so each run fits the suite's budget on 2 cores while the quality bars still mean
something."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.data.synthetic import write_synthetic


@pytest.fixture(scope="session")
def jena_dir(tmp_path_factory) -> Path:
    # 60 days of 10-minute rows: about 600 training windows of 5 days, 24 h ahead.
    return write_synthetic("forecasting", tmp_path_factory.mktemp("jena") / "d", 60, seed=0).out


@pytest.fixture(scope="session")
def pets_dir(tmp_path_factory) -> Path:
    # 120 pairs: 72 to train on, 24 each for validation and test.
    return write_synthetic("segmentation", tmp_path_factory.mktemp("pets") / "d", 120, seed=0).out


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    return write_synthetic("mnist", tmp_path_factory.mktemp("mnist") / "d", 1000, seed=0).out


@pytest.fixture
def quiet_console():
    """A console that records what a person would have seen, for assertions."""
    from rich.console import Console

    return Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
