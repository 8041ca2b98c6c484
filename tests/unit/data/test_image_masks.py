"""The ``image_masks`` layout: images/ + masks/ by stem with a classes file; each refusal names
the file. Pets trimaps stay the ``pets`` preset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiln.data.info import LoadOptions
from kiln.data.layout import detect_layout
from kiln.data.loaders import load_splits
from kiln.errors import DataError

SMALL = LoadOptions(image_size=(16, 16))


def dataset(root: Path, count: int = 10, classes: int = 3, size: int = 16) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("\n".join(f"c{i}" for i in range(classes)) + "\n")
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            root / "images" / f"s{i}.png"
        )
        mask = np.zeros((size, size), np.uint8)
        mask[: size // 2] = i % classes
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
    return root


def test_detects_the_layout_and_keeps_pets_as_the_preset(tmp_path, pets_dir):
    assert detect_layout("segmentation", dataset(tmp_path / "d")) == "image_masks"
    assert detect_layout("segmentation", pets_dir) == "pets"


def test_loads_any_number_of_classes_named_by_the_classes_file_and_reports_imbalance(tmp_path):
    splits = load_splits("segmentation", dataset(tmp_path / "d", classes=4), SMALL)
    info = splits.info
    assert info.layout == "image_masks" and info.class_names == ["c0", "c1", "c2", "c3"]
    assert info.num_classes == 4 and sum(info.split_counts.model_dump().values()) == 10
    assert any(w.startswith("class shares of the training pixels: c0 ") for w in info.warnings)
    _, y = next(iter(splits.train))
    assert set(np.unique(y.numpy())) <= {0, 1, 2, 3}


def test_classes_json_as_a_list_or_an_id_map(tmp_path):
    root = dataset(tmp_path / "d", classes=2)
    (root / "classes.txt").unlink()
    (root / "classes.json").write_text(json.dumps({"1": "cell", "0": "background"}))
    assert load_splits("segmentation", root, SMALL).info.class_names == ["background", "cell"]


def test_palette_masks_are_read_as_their_indices(tmp_path):
    root = dataset(tmp_path / "d", classes=2)
    palette = Image.fromarray(np.ones((16, 16), np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.save(root / "masks" / "s0.png")
    assert load_splits("segmentation", root, SMALL).info.num_classes == 2


def test_an_id_outside_the_declared_classes_is_refused_naming_the_file(tmp_path):
    root = dataset(tmp_path / "d", classes=2)
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(root / "masks" / "s3.png")
    with pytest.raises(DataError, match=r"s3.png holds class id\(s\) \[7\]; .* ids 0..1"):
        load_splits("segmentation", root, SMALL)


def test_a_mask_of_another_size_than_its_image_is_refused(tmp_path):
    root = dataset(tmp_path / "d")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "masks" / "s2.png")
    with pytest.raises(DataError, match=r"s2.png is 8x8 but its image .*s2.png is 16x16"):
        load_splits("segmentation", root, SMALL)


def test_a_colour_mask_and_a_missing_classes_file_are_refused(tmp_path):
    root = dataset(tmp_path / "d")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "masks" / "s1.png")
    with pytest.raises(DataError, match=r"s1.png is a colour \(RGB\) image"):
        load_splits("segmentation", root, SMALL)
    other = dataset(tmp_path / "e")
    (other / "classes.txt").unlink()
    with pytest.raises(DataError, match="no classes.txt or classes.json"):
        load_splits("segmentation", other, SMALL)


def test_an_image_without_a_mask_is_skipped_with_a_warning(tmp_path):
    root = dataset(tmp_path / "d")
    (root / "masks" / "s4.png").unlink()
    info = load_splits("segmentation", root, SMALL).info
    assert info.skipped_files == 1 and any("no mask named s4.*" in w for w in info.warnings)


def test_synthetic_masks_use_the_generic_layout(tmp_path):
    from kiln.data.synthetic import write_synthetic

    out = write_synthetic("masks", tmp_path / "m", 10, seed=0).out
    info = load_splits("segmentation", out, SMALL).info
    assert info.layout == "image_masks" and info.class_names == ["background", "cell"]
