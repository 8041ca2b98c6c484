"""The ``labels_csv`` layout: a ``path,label`` listing next to the images; each bad row is
refused naming its line; grayscale or RGB is chosen from the files, for folders too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiln.data.info import LoadOptions
from kiln.data.layout import detect_layout
from kiln.data.loaders import load_splits
from kiln.data.synthetic import write_synthetic
from kiln.errors import DataError

SMALL = LoadOptions(image_size=(8, 8))


def listing(root: Path, rows: list[str], mode: str = "L", count: int = 12) -> Path:
    """``count`` images in ``root/img`` (alternating labels a/b) and a labels.csv of ``rows``
    (all the images when ``rows`` is empty)."""
    (root / "img").mkdir(parents=True)
    for i in range(count):
        Image.new(mode, (12, 12), (i * 20) if mode == "L" else (i * 20, 0, 0)).save(
            root / "img" / f"{i}.png"
        )
    rows = rows or [f"img/{i}.png,{'ab'[i % 2]}" for i in range(count)]
    (root / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    return root


def test_detects_the_listing_even_with_its_images_in_a_sub_folder(tmp_path):
    root = listing(tmp_path / "d", [])
    assert detect_layout("classification", root) == "labels_csv"
    # Without the listing, the same folder is not class folders of two classes.
    (root / "labels.csv").write_text("file,kind\n")
    assert detect_layout("classification", root) == "folder"


def test_loads_sorted_labels_as_classes_split_per_class_in_one_gray_channel(tmp_path):
    splits = load_splits("classification", listing(tmp_path / "d", []), SMALL)
    info = splits.info
    assert info.layout == "labels_csv" and info.class_names == ["a", "b"]
    assert info.image_channels == 1 and info.input_shape == [8, 8, 1]
    counts = info.split_counts
    assert counts.test >= 2 and counts.validation >= 2 and counts.train + 4 <= 12
    x, _ = next(iter(splits.train))
    assert x.shape == (8, 8, 1)


def test_one_colour_image_makes_the_whole_dataset_rgb_and_folders_choose_too(tmp_path):
    root = listing(tmp_path / "d", [])
    Image.new("RGB", (12, 12), (0, 200, 0)).save(root / "img" / "0.png")
    assert load_splits("classification", root, SMALL).info.image_channels == 3
    folder = tmp_path / "f"
    for name in ("x", "y"):
        (folder / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (12, 12), i * 50).save(folder / name / f"{i}.png")
    info = load_splits("classification", folder, SMALL).info
    assert info.layout == "folder" and info.input_shape == [8, 8, 1]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["img/0.png,a", "img/1.png"], "line 3: ['img/1.png']; expected a path and a label"),
        (["img/0.png,a", "img/1.png, "], "line 3: ['img/1.png', ' ']; expected a path"),
        (["img/0.png,a", "img/missing.png,b"], "line 3: "),
        (["/etc/passwd,a", "img/1.png,b"], "line 2: path '/etc/passwd' must be relative"),
        (["../x.png,a", "img/1.png,b"], "line 2: path '../x.png' must be relative"),
        (["img/0.png,a", "img/0.png,b"], "is listed again (first on line 2)"),
        (["img/0.png,a", "img/1.png,a"], "names 1 class(es) (a); classification needs at least 2"),
    ],
)
def test_refuses_each_bad_row_naming_its_line(tmp_path, rows, message):
    with pytest.raises(DataError) as refused:
        load_splits("classification", listing(tmp_path / "d", rows), SMALL)
    assert message in str(refused.value)
    if "missing" in rows[-1]:
        assert "missing.png does not exist; expected an image file" in str(refused.value)


def test_a_listed_file_that_does_not_decode_is_skipped_and_counted(tmp_path):
    root = listing(tmp_path / "d", [])
    (root / "img" / "3.png").write_bytes(b"not a png")
    info = load_splits("classification", root, SMALL).info
    assert info.skipped_files == 1 and any("3.png" in w for w in info.warnings)
    assert sum(info.split_counts.model_dump().values()) == 11


def test_synth_writes_the_generic_listing_it_then_loads(tmp_path):
    written = write_synthetic("labelled", tmp_path / "s", size=16, seed=0)
    assert written.layout == "labels_csv"
    info = load_splits("classification", written.out, SMALL).info
    assert info.class_names == ["round", "square"] and info.image_channels == 1
    assert np.sum(list(info.split_counts.model_dump().values())) == 16
