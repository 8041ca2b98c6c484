"""Write the pictures `kiln explain` asks for into a folder, one step at a time for a progress bar.

Layout under ``out``: ``<image stem>/heatmap.png`` (classifiers: Grad-CAM over the image, with
the predicted label and probability), ``<image stem>/class-<name>.png`` (segmentation: each
class's output map over the image), ``<image stem>/activations/<NN>-<layer>.png`` and
``filters/<layer>.png``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from kiln.errors import ConfigError
from kiln.explain.render import channel_grid, image_grid, save_png
from kiln.explain.source import Explained
from kiln.heatmap import overlay


@dataclass
class Request:
    images: list[Path]
    out: Path
    activations: bool = False
    heatmap: bool = True
    filter_layers: list[str] = field(default_factory=list)
    filter_count: int = 16


def load_images(explained: Explained, paths: list[Path]) -> np.ndarray:
    """The images as the model's raw inputs: resized, in its channels, 0..255 floats."""
    from kiln.data.images import DecodeReport, read_image

    height, width, channels = explained.image_size
    loaded = []
    for path in paths:
        report = DecodeReport()
        result = read_image(path, (height, width), channels, report)
        if result is None:
            raise ConfigError(f"{path}: {'; '.join(report.all_warnings) or 'not an image'}")
        loaded.append(result[0])
    return np.stack(loaded).astype("float32")


def steps(explained: Explained, request: Request) -> Iterator[tuple[str, Callable[[], list[Path]]]]:
    """``(description, do it)`` for each picture group, so the caller can show progress."""
    for layer in request.filter_layers:
        if layer not in {item.name for item in explained.model.layers}:
            names = ", ".join(item.name for item in explained.model.layers)
            raise ConfigError(f"--filters layer {layer!r} is not in the model; its layers: {names}")
    images = load_images(explained, request.images)
    for index, path in enumerate(request.images):
        folder = request.out / slug(path.stem)
        if request.heatmap:
            yield f"heatmap {path.name}", partial(_heatmaps, explained, images, index, folder)
        if request.activations:
            draw = partial(_activations, explained, images[index], folder)
            yield f"activations {path.name}", draw
    for layer in request.filter_layers:
        yield f"filters {layer}", partial(_filters, explained, request, layer)


def _heatmaps(explained: Explained, images: np.ndarray, index: int, folder: Path) -> list[Path]:
    from kiln.models.gradcam import grad_cam, segmentation_maps

    image = images[index].astype("uint8")
    if explained.task == "segmentation":
        maps = segmentation_maps(explained.model, images[index : index + 1])[0]
        written = []
        for klass in range(maps.shape[-1]):
            name = _class_name(explained, klass)
            picture = overlay(image, maps[..., klass])
            title = f"class {name}: mean probability {maps[..., klass].mean():.2f}"
            written.append(save_png(folder / f"class-{slug(name)}.png", picture, title))
        return written
    heat = grad_cam(explained.model, images[index : index + 1])
    picture = overlay(image, heat.maps[0])
    label = _class_name(explained, int(heat.classes[0]))
    title = f"{label} (p={heat.top_probability(0):.2f}), Grad-CAM of {heat.layer}"
    return [save_png(folder / "heatmap.png", picture, title)]


def _activations(explained: Explained, image: np.ndarray, folder: Path) -> list[Path]:
    from kiln.explain.activations import activations

    written = []
    for number, (name, activation) in enumerate(activations(explained.model, image), start=1):
        title = f"{name}: {activation.shape[-1]} channels of {activation.shape[0]}x{activation.shape[1]}"
        path = folder / "activations" / f"{number:02d}-{slug(name)}.png"
        written.append(save_png(path, channel_grid(activation), title))
    return written


def _filters(explained: Explained, request: Request, layer: str) -> list[Path]:
    from kiln.explain.activations import filter_patterns

    patterns = filter_patterns(explained.model, layer, request.filter_count)
    title = f"{layer}: the input pattern each of {len(patterns)} filters responds to most"
    return [save_png(request.out / "filters" / f"{slug(layer)}.png", image_grid(patterns), title)]


def _class_name(explained: Explained, index: int) -> str:
    names = explained.class_names
    return names[index] if index < len(names) else str(index)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "image"
