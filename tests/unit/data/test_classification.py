"""Class-folder and MNIST loaders on synthetic data in the real layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kiln.data.info import LoadOptions
from kiln.data.loaders import load_splits
from kiln.errors import ConfigError, DataError

SIZE = LoadOptions(image_size=(24, 24))


def arrays(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    return np.stack(xs), np.stack(ys)


def flat_folder(root, classes=("ant", "bee", "cow"), per_class=10):
    """Class folders without split sub-folders; every image a unique solid colour."""
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            colour = (label * 80, index * 20, 7)
            Image.new("RGB", (20, 20), colour).save(root / name / f"{index}.png")
    return root


def test_loads_the_books_train_validation_test_folders(folder_dir):
    splits = load_splits("classification", folder_dir, SIZE)
    info = splits.info
    assert (info.layout, info.class_names, info.num_classes) == ("folder", ["cat", "dog"], 2)
    counts = info.split_counts
    on_disk = {
        split: len(list((folder_dir / split).glob("*/*.jpg")))
        for split in ("train", "validation", "test")
    }
    assert (counts.train, counts.validation, counts.test) == (
        on_disk["train"],
        on_disk["validation"],
        on_disk["test"],
    )
    x, y = arrays(splits.train)
    assert x.shape == (counts.train, 24, 24, 3) and x.dtype == np.float32
    assert y.dtype == np.int32 and set(np.unique(y)) == {0, 1}
    assert 1.0 < x.max() <= 255.0
    assert info.fingerprint.file_count == sum(on_disk.values())


def test_splits_flat_class_folders_per_class_without_overlap(tmp_path):
    root = flat_folder(tmp_path / "flat")
    options = LoadOptions(image_size=(8, 8), validation_fraction=0.2, test_fraction=0.2)
    splits = load_splits("classification", root, options)
    info = splits.info
    assert info.class_names == ["ant", "bee", "cow"] and info.num_classes == 3
    assert (info.split_counts.train, info.split_counts.validation, info.split_counts.test) == (
        18,
        6,
        6,
    )
    seen = {}
    for name in ("train", "validation", "test"):
        x, y = arrays(getattr(splits, name))
        colours = {tuple(image[0, 0]) for image in x}
        assert len(colours) == len(x)
        # Labels follow the folder: the red channel encodes the class.
        assert all(int(image[0, 0, 0]) // 80 == label for image, label in zip(x, y, strict=True))
        assert sorted(np.bincount(y, minlength=3)) == [len(x) // 3] * 3  # Stratified.
        seen[name] = colours
    assert not seen["train"] & seen["validation"]
    assert not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]


def test_carves_a_missing_test_folder_from_train(folder_dir, tmp_path):
    root = tmp_path / "no-test"
    for split in ("train", "validation"):
        for path in (folder_dir / split).glob("*/*.jpg"):
            target = root / split / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    info = load_splits("classification", root, SIZE).info
    validation = len(list((root / "validation").glob("*/*.jpg")))
    train = len(list((root / "train").glob("*/*.jpg")))
    assert info.split_counts.validation == validation
    assert info.split_counts.test >= 2 and info.split_counts.train + info.split_counts.test == train


def test_converts_odd_modes_and_skips_junk_with_counted_warnings(tmp_path):
    root = flat_folder(tmp_path / "messy", classes=("a", "b"), per_class=6)
    Image.new("L", (20, 20), 90).save(root / "a" / "gray.png")
    Image.new("RGBA", (20, 20), (10, 20, 30, 255)).save(root / "b" / "alpha.png")
    deep = (np.arange(400).reshape(20, 20) * 100).astype(np.uint16)  # 16-bit grayscale PNG
    Image.fromarray(deep).save(root / "b" / "deep.png")
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "b" / "notes.txt").write_text("not an image")
    (root / "b" / ".DS_Store").write_bytes(b"ignored silently")
    info = load_splits("classification", root, LoadOptions(image_size=(8, 8))).info
    assert info.converted_files == 3 and info.skipped_files == 2
    assert sum(info.split_counts.model_dump().values()) == 15
    assert any("deep.png" in w and "mode I;16 to RGB" in w for w in info.warnings)
    assert any("broken.jpg" in w and "not a decodable image" in w for w in info.warnings)
    assert any("notes.txt" in w for w in info.warnings)
    assert not any(".DS_Store" in w for w in info.warnings)


def test_refuses_a_single_class_and_unknown_classes_in_validation(tmp_path, folder_dir):
    one = flat_folder(tmp_path / "one", classes=("only",), per_class=4)
    with pytest.raises(DataError, match="needs at least 2 sub-folders"):
        load_splits("classification", one, SIZE)
    stray = tmp_path / "stray"
    for path in folder_dir.glob("*/*/*.jpg"):
        target = stray / path.relative_to(folder_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (stray / "validation" / "fox").mkdir()
    Image.new("RGB", (8, 8)).save(stray / "validation" / "fox" / "1.jpg")
    with pytest.raises(DataError, match=r"class folder\(s\) \['fox'\]"):
        load_splits("classification", stray, SIZE)


def test_loads_mnist_npz_with_validation_carved_from_train(mnist_dir):
    splits = load_splits("classification", mnist_dir)
    info = splits.info
    assert (info.layout, info.input_shape, info.num_classes) == ("mnist", [28, 28, 1], 10)
    assert info.class_names == [str(d) for d in range(10)]
    assert (info.split_counts.train, info.split_counts.validation, info.split_counts.test) == (
        50,
        10,
        15,
    )
    raw = np.load(mnist_dir / "mnist.npz")
    x_train, y_train = arrays(splits.train)
    x_val, _ = arrays(splits.validation)
    x_test, y_test = arrays(splits.test)
    assert x_train.dtype == np.float32 and x_train.shape[1:] == (28, 28, 1)
    assert y_train.dtype == np.int32 and y_train.min() >= 0 and y_train.max() <= 9
    np.testing.assert_array_equal(x_test[..., 0], raw["x_test"].astype(np.float32))
    np.testing.assert_array_equal(y_test, raw["y_test"])
    train_keys = {image.tobytes() for image in x_train}
    assert not train_keys & {image.tobytes() for image in x_val}
    assert len(train_keys) + len(x_val) == len(raw["x_train"])


@pytest.mark.parametrize(
    ("arrays_on_disk", "message"),
    [
        ({"x_train": np.zeros((4, 28, 28))}, "lacks"),
        (
            {
                "x_train": np.zeros((4, 28)),
                "y_train": np.zeros(4, int),
                "x_test": np.zeros((2, 28, 28)),
                "y_test": np.zeros(2, int),
            },
            "expected \\(n, height, width\\)",
        ),
        (
            {
                "x_train": np.zeros((4, 28, 28)),
                "y_train": -np.ones(4, int),
                "x_test": np.zeros((2, 28, 28)),
                "y_test": np.zeros(2, int),
            },
            "non-negative integer",
        ),
    ],
)
def test_rejects_a_malformed_mnist_archive(tmp_path, arrays_on_disk, message):
    np.savez(tmp_path / "mnist.npz", **arrays_on_disk)
    with pytest.raises(DataError, match=message):
        load_splits("classification", tmp_path)


def test_rejects_a_corrupt_npz_and_a_resize_of_mnist(tmp_path, mnist_dir):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_splits("classification", tmp_path)
    with pytest.raises(ConfigError, match="image_size"):
        load_splits("classification", mnist_dir, LoadOptions(image_size=(32, 32)))


def test_counts_every_skip_but_keeps_the_warning_list_bounded(tmp_path):
    root = flat_folder(tmp_path / "junk", classes=("a", "b"), per_class=4)
    for index in range(105):
        (root / "a" / f"readme{index}.txt").write_text("not an image")
    info = load_splits("classification", root, LoadOptions(image_size=(8, 8))).info
    assert info.skipped_files == 105
    assert len(info.warnings) == 101 and info.warnings[-1].startswith("... and 5 more warning")
