"""Small datasets in the real layouts, written once per session by Kiln's own synthetic writers
(or by hand, where a test needs to control every pixel or row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiln.data.synthetic import write_synthetic


@pytest.fixture(scope="session")
def pets_dir(tmp_path_factory) -> Path:
    return write_synthetic("segmentation", tmp_path_factory.mktemp("pets") / "d", 24, seed=1).out


@pytest.fixture(scope="session")
def folder_dir(tmp_path_factory) -> Path:
    return write_synthetic("classification", tmp_path_factory.mktemp("folder") / "d", 24, 2).out


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    return write_synthetic("mnist", tmp_path_factory.mktemp("mnist") / "d", 60, seed=3).out


@pytest.fixture(scope="session")
def jena_dir(tmp_path_factory) -> Path:
    return write_synthetic("forecasting", tmp_path_factory.mktemp("jena") / "d", 21, 4).out


def write_pair(root: Path, stem: str, image: np.ndarray, trimap: np.ndarray) -> None:
    """One Pets pair: ``images/<stem>.jpg`` (PNG-encoded if ``stem`` says so) and its trimap."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}.jpg", format="JPEG", quality=95)
    Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{stem}.png")


def striped_trimap(rows: int, size: int = 32) -> np.ndarray:
    """Foreground (1) in the first ``rows`` rows, a border row (3), background (2) below."""
    trimap = np.full((size, size), 2, np.uint8)
    trimap[:rows] = 1
    trimap[rows : rows + 1] = 3
    return trimap


@pytest.fixture
def aligned_pets(tmp_path) -> Path:
    """Ten pairs whose image brightness encodes the same index as the mask's foreground rows,
    so any misalignment between images and masks after shuffling is visible."""
    root = tmp_path / "aligned"
    for index in range(10):
        image = np.full((32, 32, 3), 20 + 20 * index, np.uint8)
        write_pair(root, f"pet_{index}", image, striped_trimap(index + 2))
    return root
