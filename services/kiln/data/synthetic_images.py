"""Synthetic images in the real layouts, with a signal a small model learns in seconds.

- Pets-like: a bright, saturated foreground shape (ellipse or polygon) on a dull textured
  background, with its trimap: 1 inside the shape, 2 outside, 3 on a thin ring along the edge
  (the real trimaps' "not sure" border).
- Class folders: each class has its own shape *and* texture (class 0 striped ellipses, class 1
  checkered rectangles, class 2 dotted triangles, ...), on a noisy background.
- MNIST-like: the ten digits drawn as jittered strokes into 28×28 grayscale.
All randomness comes from one ``numpy`` generator, so a seed reproduces the files exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PETS_SIZE = (80, 96)  # (height, width): not square, so the loader's resize is exercised
FOLDER_SIZE = (72, 72)
BREEDS = ("Abyssinian", "beagle", "Bengal", "boxer")


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A dull, textured background: a muted base colour, low-frequency blobs and pixel noise."""
    base = rng.uniform(60, 140, size=3)
    coarse = rng.normal(0, 18, size=(height // 8 + 1, width // 8 + 1, 3))
    coarse = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width].astype(np.float64)
    noise = rng.normal(0, 10, size=(height, width, 3))
    return np.clip(base + coarse + noise, 0, 255)


def _shape_mask(rng: np.random.Generator, height: int, width: int, kind: str) -> Image.Image:
    """A binary (mode L, 0/255) mask of one shape placed at a random position and size."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    ry, rx = rng.uniform(0.18, 0.3) * height, rng.uniform(0.18, 0.3) * width
    if kind == "ellipse":
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    elif kind == "rectangle":
        draw.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    else:
        corners = 3 if kind == "triangle" else int(rng.integers(5, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners)) if kind != "triangle" else None
        if angles is None:
            angles = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        points = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]
        draw.polygon(points, fill=255)
    return mask


def _texture(kind: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A per-class texture in 0..1: stripes, checks, dots, or diagonal stripes."""
    yy, xx = np.mgrid[0:height, 0:width]
    period = int(rng.integers(6, 9))
    if kind % 4 == 0:
        return ((yy // (period // 2)) % 2).astype(float)
    if kind % 4 == 1:
        return (((yy // period) + (xx // period)) % 2).astype(float)
    if kind % 4 == 2:
        return (((yy % period) < 3) & ((xx % period) < 3)).astype(float)
    return (((yy + xx) // (period // 2)) % 2).astype(float)


def pets_pair(rng: np.random.Generator, size: tuple[int, int] = PETS_SIZE):
    """One (RGB image, trimap with values 1..3) pair as uint8 arrays."""
    height, width = size
    image = _background(rng, height, width)
    kind = str(rng.choice(["ellipse", "polygon", "rectangle"]))
    shape = _shape_mask(rng, height, width, kind)
    inside = np.asarray(shape) > 127
    colour = rng.uniform(0, 1, size=3)
    colour = 150 + 105 * colour / colour.max()  # Bright and saturated, unlike the background.
    image[inside] = colour + rng.normal(0, 8, size=(int(inside.sum()), 3))
    # The border ring: pixels within ~2 px of the edge, on either side, like the real trimaps.
    grown = np.asarray(shape.filter(ImageFilter.MaxFilter(5))) > 127
    shrunk = np.asarray(shape.filter(ImageFilter.MinFilter(5))) > 127
    trimap = np.full((height, width), 2, np.uint8)
    trimap[inside] = 1
    trimap[grown & ~shrunk] = 3
    return np.clip(image, 0, 255).astype(np.uint8), trimap


def write_pets(out: Path, count: int, seed: int) -> list[Path]:
    """``count`` pairs as ``images/<Breed>_<n>.jpg`` + ``annotations/trimaps/<Breed>_<n>.png``."""
    rng = np.random.default_rng(seed)
    images_dir = out / "images"
    trimaps_dir = out / "annotations" / "trimaps"
    images_dir.mkdir(parents=True, exist_ok=True)
    trimaps_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(count):
        stem = f"{BREEDS[index % len(BREEDS)]}_{index // len(BREEDS) + 1}"
        image, trimap = pets_pair(rng)
        Image.fromarray(image).save(images_dir / f"{stem}.jpg", quality=92)
        Image.fromarray(trimap).save(trimaps_dir / f"{stem}.png")
        written += [images_dir / f"{stem}.jpg", trimaps_dir / f"{stem}.png"]
    return written


def write_masks(out: Path, count: int, seed: int) -> list[Path]:
    """``count`` pairs as ``images/cell_<n>.png`` + ``masks/cell_<n>.png`` (ids 0 background,
    1 cell) and ``classes.txt``: the generic layout, named unlike the Pets preset."""
    rng = np.random.default_rng(seed)
    for folder in ("images", "masks"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("background\ncell\n")
    written = [out / "classes.txt"]
    for index in range(count):
        image, trimap = pets_pair(rng, (96, 96))
        names = [out / "images" / f"cell_{index:03d}.png", out / "masks" / f"cell_{index:03d}.png"]
        Image.fromarray(image).save(names[0])
        Image.fromarray((trimap == 1).astype(np.uint8)).save(names[1])
        written += names
    return written


def class_image(rng: np.random.Generator, label: int, size: tuple[int, int] = FOLDER_SIZE):
    """An RGB uint8 image of class ``label``: its own shape, filled with its own texture."""
    height, width = size
    shapes = ("ellipse", "rectangle", "triangle", "polygon")
    image = _background(rng, height, width)
    inside = np.asarray(_shape_mask(rng, height, width, shapes[label % len(shapes)])) > 127
    texture = _texture(label, height, width, rng)
    light = rng.uniform(170, 255, size=3)
    dark = light * rng.uniform(0.2, 0.45)
    fill = dark + texture[..., None] * (light - dark)
    image[inside] = fill[inside]
    return np.clip(image, 0, 255).astype(np.uint8)


def write_folder(
    out: Path, count: int, seed: int, class_names: tuple[str, ...] = ("cat", "dog")
) -> list[Path]:
    """``count`` images split 2:1:1 into ``train/``, ``validation/``, ``test/`` class folders
    (the book's cats-vs-dogs layout), balanced over ``class_names``."""
    rng = np.random.default_rng(seed)
    per_class = max(4, count // len(class_names))
    n_train, n_val = per_class // 2, per_class // 4
    written = []
    for label, name in enumerate(class_names):
        for index in range(per_class):
            split = (
                "train" if index < n_train else "validation" if index < n_train + n_val else "test"
            )
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.{index}.jpg"
            Image.fromarray(class_image(rng, label)).save(path, quality=92)
            written.append(path)
    return written


def write_labelled(
    out: Path, count: int, seed: int, class_names: tuple[str, ...] = ("round", "square")
) -> list[Path]:
    """``count`` grayscale PNGs in ``scans/`` listed by ``labels.csv`` (``path,label``): the
    generic classification layout, one channel, named unlike the book's cats and dogs."""
    rng = np.random.default_rng(seed)
    (out / "scans").mkdir(parents=True, exist_ok=True)
    lines, written = ["path,label"], []
    for index in range(max(4 * len(class_names), count)):
        label = index % len(class_names)
        path = out / "scans" / f"scan_{index:04d}.png"
        Image.fromarray(class_image(rng, label)).convert("L").save(path)
        lines.append(f"scans/{path.name},{class_names[label]}")
        written.append(path)
    (out / "labels.csv").write_text("\n".join(lines) + "\n")
    return [*written, out / "labels.csv"]


# Each digit as strokes on a 4-wide, 6-tall grid (x, y); drawn with jitter, thickness and offset.
_DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5, 0), (3.5, 0), (4, 1), (4, 5), (3.5, 6), (0.5, 6), (0, 5), (0, 1), (0.5, 0)]],
    1: [[(1, 1), (2.5, 0), (2.5, 6)], [(1, 6), (4, 6)]],
    2: [[(0, 1), (1, 0), (3, 0), (4, 1), (4, 2), (0, 6), (4, 6)]],
    3: [[(0, 0), (4, 0), (2, 2.5), (4, 4), (3, 6), (0, 5.5)]],
    4: [[(3, 6), (3, 0), (0, 4), (4, 4)]],
    5: [[(4, 0), (0.5, 0), (0, 3), (3, 2.5), (4, 4), (3, 6), (0, 5.5)]],
    6: [[(3.5, 0), (1, 1), (0, 4), (1, 6), (3, 6), (4, 4.5), (3, 3), (0.5, 3.5)]],
    7: [[(0, 0), (4, 0), (1.5, 6)]],
    8: [[(2, 3), (0.5, 1.5), (2, 0), (3.5, 1.5), (2, 3), (0, 4.5), (2, 6), (4, 4.5), (2, 3)]],
    9: [[(3.5, 2.5), (1, 3), (0, 1.5), (1.5, 0), (3.5, 0.5), (4, 2), (3, 6)]],
}


def digit_image(rng: np.random.Generator, digit: int) -> np.ndarray:
    """A 28×28 uint8 grayscale digit: white strokes on black, like MNIST."""
    canvas = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(canvas)
    scale = rng.uniform(2.6, 3.2)
    offset_x = rng.uniform(6, 22 - 4 * scale + 2)
    offset_y = rng.uniform(3, 25 - 6 * scale)
    slant = rng.uniform(-0.25, 0.25)
    width = int(rng.integers(2, 4))
    for stroke in _DIGIT_STROKES[digit]:
        points = [
            (
                offset_x + scale * (x + slant * (3 - y)) + rng.normal(0, 0.3),
                offset_y + scale * y + rng.normal(0, 0.3),
            )
            for x, y in stroke
        ]
        draw.line(points, fill=int(rng.integers(200, 256)), width=width, joint="curve")
    return np.asarray(canvas.filter(ImageFilter.GaussianBlur(0.5)), dtype=np.uint8)


def write_mnist(out: Path, count: int, seed: int) -> list[Path]:
    """``mnist.npz`` with ``count`` training digits and a quarter as many test digits."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for part, n in (("train", count), ("test", max(10, count // 4))):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        arrays[f"x_{part}"] = np.stack([digit_image(rng, int(d)) for d in labels])
        arrays[f"y_{part}"] = labels.astype(np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "mnist.npz"
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return [path]
