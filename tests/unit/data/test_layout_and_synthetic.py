"""Layout detection, fingerprints, the synthetic writers and `kiln data synth`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kiln.data import DatasetInfo, detect_layout
from kiln.data.layout import fingerprint
from kiln.data.loaders import load_splits
from kiln.data.synthetic import write_synthetic
from kiln.data.synthetic_images import pets_pair
from kiln.errors import ConfigError, DataError


def test_tf_free_modules_import_without_tensorflow():
    code = (
        "import sys, kiln.data, kiln.data.info, kiln.data.layout, kiln.models, "
        "kiln.models.catalog\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_detects_each_layout(pets_dir, folder_dir, mnist_dir, jena_dir):
    assert detect_layout("segmentation", pets_dir) == "pets"
    assert detect_layout("classification", folder_dir) == "folder"
    assert detect_layout("classification", mnist_dir) == "mnist"
    assert detect_layout("classification", mnist_dir / "mnist.npz") == "mnist"
    assert detect_layout("forecasting", jena_dir) == "jena"
    assert detect_layout("forecasting", jena_dir / "jena_climate_2009_2016.csv") == "jena"


def test_layout_errors_say_what_was_found_and_expected(tmp_path, jena_dir):
    with pytest.raises(DataError, match="holds 'jena' data, which the segmentation task cannot"):
        detect_layout("segmentation", jena_dir)
    with pytest.raises(DataError, match="holds no recognised classification data"):
        detect_layout("classification", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        detect_layout("forecasting", tmp_path / "missing")
    with pytest.raises(DataError, match="unknown task 'speech'"):
        detect_layout("speech", tmp_path)
    with pytest.raises(DataError, match="'pets' layout does not hold forecasting data"):
        from kiln.data.info import LoadOptions

        load_splits("forecasting", jena_dir, LoadOptions(layout="pets"))


def test_fingerprint_tracks_names_and_sizes_not_order(tmp_path):
    files = []
    for name, size in (("b.jpg", 3), ("a.jpg", 5)):
        (tmp_path / name).write_bytes(b"x" * size)
        files.append(tmp_path / name)
    first = fingerprint(tmp_path, files)
    assert (first.file_count, first.total_bytes) == (2, 8)
    assert fingerprint(tmp_path, files[::-1]) == first
    (tmp_path / "a.jpg").write_bytes(b"x" * 6)
    assert fingerprint(tmp_path, files).sha256 != first.sha256


def test_dataset_info_round_trips_through_json(pets_dir):
    from kiln.data.info import LoadOptions

    info = load_splits("segmentation", pets_dir, LoadOptions(image_size=(16, 16))).info
    assert DatasetInfo.model_validate_json(info.model_dump_json()) == info


def test_synthetic_pets_trimap_rings_the_foreground():
    image, trimap = pets_pair(np.random.default_rng(0))
    assert set(np.unique(trimap)) == {1, 2, 3}
    # Foreground never touches background directly: the border ring lies between them.
    foreground = trimap == 1
    neighbours = np.zeros_like(foreground)
    neighbours[1:] |= foreground[:-1]
    neighbours[:-1] |= foreground[1:]
    neighbours[:, 1:] |= foreground[:, :-1]
    neighbours[:, :-1] |= foreground[:, 1:]
    assert not (neighbours & (trimap == 2)).any()
    # The signal: the foreground is brighter than the background.
    assert image[trimap == 1].mean() > image[trimap == 2].mean() + 40


def test_synthetic_writers_are_reproducible_and_refuse_a_used_directory(tmp_path):
    first = write_synthetic("mnist", tmp_path / "one", 20, seed=5)
    second = write_synthetic("mnist", tmp_path / "two", 20, seed=5)
    with np.load(first.files[0]) as a, np.load(second.files[0]) as b:
        np.testing.assert_array_equal(a["x_train"], b["x_train"])
        assert sorted(a.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert a["x_train"].shape == (20, 28, 28) and a["x_train"].dtype == np.uint8
    with pytest.raises(ConfigError, match="not an empty directory"):
        write_synthetic("mnist", tmp_path / "one", 20, seed=5)
    with pytest.raises(ConfigError, match="too small"):
        write_synthetic("segmentation", tmp_path / "small", 2)
    with pytest.raises(ConfigError, match="unknown synthetic dataset"):
        write_synthetic("audio", tmp_path / "audio")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # No staging left.


def test_synthetic_classes_differ_in_shape_and_texture(folder_dir):
    cats = [np.asarray(Image.open(p)) for p in sorted((folder_dir / "train" / "cat").iterdir())]
    dogs = [np.asarray(Image.open(p)) for p in sorted((folder_dir / "train" / "dog").iterdir())]
    assert cats[0].shape == dogs[0].shape == (72, 72, 3)

    def vertical_energy(images):  # Stripes vary along rows only; checks along both axes.
        return np.mean([np.abs(np.diff(i.astype(float), axis=1)).mean() for i in images])

    assert vertical_energy(dogs) > vertical_energy(cats)


def test_cli_writes_each_layout_and_prints_what_it_wrote(tmp_path):
    from kiln.cli import cli  # Through the top-level `kiln` group, as a user types it.

    runner = CliRunner()
    for kind, layout, size in (
        ("segmentation", "pets", "8"),
        ("classification", "folder", "8"),
        ("mnist", "mnist", "10"),
        ("forecasting", "jena", "20"),
    ):
        out = tmp_path / kind
        result = runner.invoke(
            cli, ["data", "synth", "--task", kind, "--out", str(out), "--size", size]
        )
        assert result.exit_code == 0, result.output
        assert f"in the {layout} layout to {out}" in result.output
        task = (
            "segmentation"
            if kind == "segmentation"
            else "forecasting"
            if kind == "forecasting"
            else "classification"
        )
        assert detect_layout(task, out) == layout
    result = runner.invoke(
        cli, ["data", "synth", "--task", "mnist", "--out", str(tmp_path / "mnist")]
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "not an empty directory" in result.output


def test_a_stray_csv_or_npz_does_not_hide_class_folders(tmp_path, folder_dir):
    root = tmp_path / "mixed"
    for path in folder_dir.glob("train/*/*.jpg"):
        target = root / path.relative_to(folder_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (root / "labels.csv").write_text("file,label\n")
    np.savez(root / "features.npz", a=np.zeros(2))
    assert detect_layout("classification", root) == "folder"
    with pytest.raises(DataError, match="holds 'folder' data, which the forecasting task"):
        detect_layout("forecasting", root / "train")


def test_synthetic_images_carry_a_signal_simple_rules_already_find():
    """Proof that the synthetic image data is learnable, without training: one-line rules on
    the pixels separate the classes, so a convnet that learns anything beats chance by far."""
    from kiln.data.synthetic_images import class_image, digit_image

    rng = np.random.default_rng(11)
    # Pets: the brightest channel splits foreground from background (border pixels excluded).
    for _ in range(5):
        image, trimap = pets_pair(rng)
        predicted = np.where(image.max(axis=-1) > 210, 1, 2)
        known = trimap != 3
        assert (predicted[known] == trimap[known]).mean() > 0.98

    # Classes: stripes vary only down the image, checks along both axes.
    def across_over_down(image):
        gray = image.astype(float).mean(axis=-1)
        return np.abs(np.diff(gray, axis=1)).mean() / np.abs(np.diff(gray, axis=0)).mean()

    labels = np.arange(40) % 2
    ratios = np.array([across_over_down(class_image(rng, int(label))) for label in labels])
    assert ((ratios > np.median(ratios)) == labels).mean() > 0.95

    # Digits: nearest class mean on raw pixels is far above the 10 % of guessing.
    train = np.arange(300) % 10
    test = np.arange(100) % 10
    x_train = np.stack([digit_image(rng, int(d)) for d in train]).reshape(300, -1).astype(float)
    x_test = np.stack([digit_image(rng, int(d)) for d in test]).reshape(100, -1).astype(float)
    centroids = np.stack([x_train[train == d].mean(axis=0) for d in range(10)])
    distances = ((x_test[:, None] - centroids[None]) ** 2).sum(axis=-1)
    assert (distances.argmin(axis=1) == test).mean() > 0.6


def test_cli_inspect_reports_splits_skips_and_the_baseline(pets_dir, jena_dir, tmp_path):
    import json

    from kiln.commands.data import data

    runner = CliRunner()
    messy = tmp_path / "messy"
    for path in pets_dir.rglob("*.*"):
        target = messy / path.relative_to(pets_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (messy / "images" / "Abyssinian_1.jpg").write_bytes(b"garbage")
    result = runner.invoke(
        data, ["inspect", "--task", "segmentation", str(messy), "--image-size", "16"]
    )
    assert result.exit_code == 0, result.output
    assert "splits: train 15, validation 4, test 4" in result.output
    assert "skipped 1 file(s)" in result.output and "Abyssinian_1.jpg" in result.output
    result = runner.invoke(
        data,
        ["inspect", "--task", "forecasting", str(jena_dir), "--sequence-length", "24", "--json"],
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output[result.output.index("{") :])
    assert info["layout"] == "jena" and info["naive_baseline_mae"] > 0
    result = runner.invoke(data, ["inspect", "--task", "forecasting", str(pets_dir)])
    assert result.exit_code == 2 and "holds 'pets' data" in result.output
