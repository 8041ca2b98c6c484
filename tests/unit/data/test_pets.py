"""The Oxford-IIIT Pets loader on synthetic pairs in the real layout, including messy files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kiln.data.info import LoadOptions
from kiln.data.loaders import load_splits
from kiln.errors import DataError

from .conftest import striped_trimap, write_pair

SMALL = LoadOptions(image_size=(32, 32), validation_count=2, test_count=2)


def arrays(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    return np.stack(xs), np.stack(ys)


def test_loads_pets_with_shapes_dtypes_labels_and_split_sizes(pets_dir):
    options = LoadOptions(image_size=(32, 32), validation_count=4, test_count=3)
    splits = load_splits("segmentation", pets_dir, options)
    info = splits.info
    assert (info.layout, info.num_classes, info.input_shape) == ("pets", 3, [32, 32, 3])
    assert (info.split_counts.train, info.split_counts.validation, info.split_counts.test) == (
        17,
        4,
        3,
    )
    x, y = arrays(splits.train)
    assert x.shape == (17, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (17, 32, 32) and y.dtype == np.int32
    # Raw 0..255 pixels (the models rescale), trimap 1,2,3 shifted to labels 0,1,2.
    assert x.max() > 1.0 and x.min() >= 0.0 and x.max() <= 255.0
    assert set(np.unique(y)) == {0, 1, 2}
    assert info.fingerprint.file_count == 48 and len(info.fingerprint.sha256) == 64


def test_clamps_the_default_held_out_counts_on_small_data_and_says_so(pets_dir):
    info = load_splits("segmentation", pets_dir, LoadOptions(image_size=(32, 32))).info
    # 24 pairs: the book's 1,000 validation pairs become a fifth (4), and so does test.
    assert (info.split_counts.validation, info.split_counts.test, info.split_counts.train) == (
        4,
        4,
        16,
    )
    assert any("validation split clamped from 1000 to 4" in w for w in info.warnings)


def test_keeps_images_and_masks_aligned_through_the_seeded_shuffle(aligned_pets):
    for seed in (0, 7):
        options = LoadOptions(image_size=(32, 32), validation_count=2, test_count=2, seed=seed)
        splits = load_splits("segmentation", aligned_pets, options)
        seen = []
        for dataset in (splits.train, splits.validation, splits.test):
            for x, y in dataset:
                index = round((float(x.numpy().mean()) - 20) / 20)
                foreground_rows = int((y.numpy() == 0).all(axis=1).sum())
                assert foreground_rows == index + 2, "image and mask come from different pairs"
                seen.append(index)
        assert sorted(seen) == list(range(10))  # Every pair once, none in two splits.


def test_shuffle_depends_on_the_seed_and_only_on_it(aligned_pets):
    def validation_order(seed):
        options = LoadOptions(image_size=(32, 32), validation_count=2, test_count=2, seed=seed)
        return [
            float(x.numpy().mean())
            for x, _ in load_splits("segmentation", aligned_pets, options).train
        ]

    assert validation_order(1) == validation_order(1)
    assert validation_order(1) != validation_order(2)


def test_resizes_masks_with_nearest_neighbour_so_no_label_is_invented(tmp_path):
    trimap = np.full((32, 32), 1, np.uint8)
    trimap[:, 16:] = 3  # Foreground next to border: bilinear would invent "background" (2).
    for index in range(5):
        write_pair(tmp_path, f"p{index}", np.zeros((32, 32, 3), np.uint8), trimap)
    options = LoadOptions(image_size=(21, 13), validation_count=1, test_count=1)
    _, y = arrays(load_splits("segmentation", tmp_path, options).train)
    assert y.shape[1:] == (21, 13)
    assert set(np.unique(y)) == {0, 2}


def test_ignores_dotfiles(aligned_pets):
    (aligned_pets / "images" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (aligned_pets / "images" / "._pet_0.jpg").write_bytes(b"AppleDouble")
    (aligned_pets / "annotations" / "trimaps" / "._pet_0.png").write_bytes(b"AppleDouble")
    info = load_splits("segmentation", aligned_pets, SMALL).info
    assert info.skipped_files == 0 and info.warnings == [] and info.fingerprint.file_count == 20


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_converts_grayscale_rgba_cmyk_and_png_named_jpg(aligned_pets):
    images = aligned_pets / "images"
    gray = Image.new("L", (32, 32), 100)
    (images / "pet_0.jpg").write_bytes(_encoded(gray, "JPEG"))
    (images / "pet_1.jpg").write_bytes(_encoded(Image.new("RGBA", (32, 32), (0, 0, 0, 0)), "PNG"))
    (images / "pet_2.jpg").write_bytes(_encoded(Image.new("CMYK", (32, 32), (0, 0, 0, 0)), "JPEG"))
    (images / "pet_3.jpg").write_bytes(_encoded(Image.new("RGB", (32, 32), (5, 6, 7)), "PNG"))
    splits = load_splits("segmentation", aligned_pets, SMALL)
    info = splits.info
    assert info.skipped_files == 0 and info.converted_files == 4
    assert sum(info.split_counts.model_dump().values()) == 10
    assert any("pet_3.jpg" in w and "PNG file named .jpg" in w for w in info.warnings)
    assert any("pet_2.jpg" in w and "CMYK" in w for w in info.warnings)
    pixels = {
        tuple(x.numpy()[0, 0])
        for ds in (splits.train, splits.validation, splits.test)
        for x, _ in ds
    }
    assert (255.0, 255.0, 255.0) in pixels  # Transparent RGBA composited over white, not black.
    assert (100.0, 100.0, 100.0) in pixels  # Grayscale expanded to three equal channels.


def test_skips_undecodable_and_truncated_images_with_a_counted_warning(aligned_pets):
    images = aligned_pets / "images"
    (images / "pet_0.jpg").write_bytes(b"this is not a jpeg")
    whole = (images / "pet_1.jpg").read_bytes()
    (images / "pet_1.jpg").write_bytes(whole[: len(whole) // 2])
    (aligned_pets / "annotations" / "trimaps" / "pet_2.png").unlink()
    info = load_splits("segmentation", aligned_pets, SMALL).info
    assert info.skipped_files == 3
    assert sum(info.split_counts.model_dump().values()) == 7
    assert any("pet_0.jpg" in w and "not a decodable image" in w for w in info.warnings)
    assert any("pet_1.jpg" in w for w in info.warnings)
    assert any("pet_2.jpg" in w and "no trimap" in w for w in info.warnings)


def test_skips_a_pair_whose_mask_size_differs_from_its_image(aligned_pets):
    trimaps = aligned_pets / "annotations" / "trimaps"
    Image.fromarray(striped_trimap(3, size=16)).save(trimaps / "pet_4.png")
    info = load_splits("segmentation", aligned_pets, SMALL).info
    assert info.skipped_files == 1 and "would not align" in info.warnings[0]


def test_rejects_a_mask_with_an_unknown_label_naming_the_file(aligned_pets):
    trimap = striped_trimap(3)
    trimap[5, 5] = 4
    Image.fromarray(trimap).save(aligned_pets / "annotations" / "trimaps" / "pet_6.png")
    with pytest.raises(DataError, match=r"pet_6\.png holds value\(s\) \[4\]"):
        load_splits("segmentation", aligned_pets, SMALL)


def test_rejects_a_zero_label_mask_too(aligned_pets):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(
        aligned_pets / "annotations" / "trimaps" / "pet_1.png"
    )
    with pytest.raises(DataError, match=r"pet_1\.png holds value\(s\) \[0\].*expected only 1"):
        load_splits("segmentation", aligned_pets, SMALL)


def test_refuses_too_few_pairs_and_too_much_memory(tmp_path, aligned_pets):
    for index in range(2):
        write_pair(tmp_path, f"p{index}", np.zeros((8, 8, 3), np.uint8), striped_trimap(2, 8))
    with pytest.raises(DataError, match="found 2 usable image/trimap pair"):
        load_splits("segmentation", tmp_path, SMALL)
    huge = LoadOptions(image_size=(4000, 4000), memory_budget_mb=64)
    with pytest.raises(DataError, match="more than the memory budget of 64 MB"):
        load_splits("segmentation", aligned_pets, huge)
