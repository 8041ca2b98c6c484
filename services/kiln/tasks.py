"""The task vocabulary: one spec per task, the only place a task and its data layouts are spelled
out. TF-free (dataclasses only), so the CLI, serving, the registry and the operator can read it.

Every stage that does something different per task keeps a dict keyed by task (or by layout)
and branches on a spec's properties (``modality``, ``answer``), never on a task's name.
``tests/unit/test_task_vocabulary.py`` checks that each of those tables covers every task here
and, when one does not, prints the checklist of rooms still missing (``docs/architecture.md``
describes adding a task).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kiln.errors import ConfigError

Task = Literal["segmentation", "classification", "forecasting"]
Layout = Literal["pets", "folder", "mnist", "jena", "timeseries_csv", "image_masks", "labels_csv"]
# What the model reads: images (height, width, channels) or windows of table rows.
Modality = Literal["image", "timeseries"]
# What /v1/{task}/predict answers per item: a class label, a per-pixel class mask, or a value.
Answer = Literal["label", "mask", "value"]


@dataclass(frozen=True)
class LayoutSpec:
    """One real on-disk dataset layout a task can read."""

    name: Layout
    # What the loader expects on disk, as refusals quote it.
    description: str
    # The book's model input for this data (no batch dimension) and its class count (0 for a
    # regression): `kiln models list` counts parameters at this size, and the image loaders
    # resize to this side unless told otherwise.
    book_input: tuple[int, ...]
    book_classes: int
    # `kiln data synth --task KIND`: the kind's name, its default size, what the size counts,
    # and the least that still gives every split some data.
    synthetic_kind: str
    synthetic_size: int
    synthetic_unit: str
    synthetic_minimum: int


@dataclass(frozen=True)
class TaskSpec:
    """One task: the data it reads, what its model sees and what serving answers."""

    name: Task
    modality: Modality
    # The layouts it reads; the first is what `kiln data synth --task NAME` writes.
    layouts: tuple[LayoutSpec, ...]
    answer: Answer
    answer_description: str

    @property
    def layout_names(self) -> tuple[Layout, ...]:
        return tuple(layout.name for layout in self.layouts)

    @property
    def layout_hint(self) -> str:
        """What the task's data looks like on disk (for errors that refuse a path)."""
        return ", or ".join(layout.description for layout in self.layouts)


_PETS = LayoutSpec(
    name="pets",
    description="images/*.jpg with annotations/trimaps/*.png",
    book_input=(200, 200, 3),
    book_classes=3,
    synthetic_kind="segmentation",
    synthetic_size=48,
    synthetic_unit="image/trimap pairs",
    synthetic_minimum=8,
)
_IMAGE_MASKS = LayoutSpec(
    name="image_masks",
    description="images/ and masks/ matched by file stem (masks of integer class ids), with "
    "classes.txt or classes.json",
    book_input=(200, 200, 3),
    book_classes=2,
    synthetic_kind="masks",
    synthetic_size=48,
    synthetic_unit="image/mask pairs over 2 classes",
    synthetic_minimum=8,
)
_FOLDER = LayoutSpec(
    name="folder",
    description="class sub-folders of images",
    book_input=(180, 180, 3),
    book_classes=2,
    synthetic_kind="classification",
    synthetic_size=96,
    synthetic_unit="images over 2 classes",
    synthetic_minimum=8,
)
_LABELS_CSV = LayoutSpec(
    name="labels_csv",
    description="labels.csv (header path,label) listing images relative to its folder",
    book_input=(180, 180, 3),
    book_classes=2,
    synthetic_kind="labelled",
    synthetic_size=96,
    synthetic_unit="images over 2 classes listed in labels.csv",
    synthetic_minimum=8,
)
_MNIST = LayoutSpec(
    name="mnist",
    description="an .npz with x_train, y_train, x_test, y_test",
    book_input=(28, 28, 1),
    book_classes=10,
    synthetic_kind="mnist",
    synthetic_size=1000,
    synthetic_unit="training digits (+1/4 as many test digits)",
    synthetic_minimum=8,
)
_JENA = LayoutSpec(
    name="jena",
    description="one Jena climate .csv",
    book_input=(120, 14),
    book_classes=0,
    synthetic_kind="forecasting",
    synthetic_size=60,
    synthetic_unit="days of 10-minute rows",
    synthetic_minimum=20,
)

_TIMESERIES_CSV = LayoutSpec(
    name="timeseries_csv",
    description="any single timeseries .csv or .parquet (a time column, numeric columns; "
    "--target names the one to forecast)",
    book_input=(120, 14),
    book_classes=0,
    synthetic_kind="timeseries",
    synthetic_size=60,
    synthetic_unit="days of hourly rows",
    synthetic_minimum=20,
)

SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="segmentation",
            modality="image",
            layouts=(_PETS, _IMAGE_MASKS),
            answer="mask",
            answer_description="a per-pixel class mask (PNG, or base64 PNG in JSON) and the "
            "share of the pixels given to each class",
        ),
        TaskSpec(
            name="classification",
            modality="image",
            layouts=(_FOLDER, _MNIST, _LABELS_CSV),
            answer="label",
            answer_description="the label and the probability of each class",
        ),
        TaskSpec(
            name="forecasting",
            modality="timeseries",
            layouts=(_JENA, _TIMESERIES_CSV),
            answer="value",
            answer_description="the target column, in its own unit, the horizon after the window "
            "(Jena: temperature, °C, 24 h ahead)",
        ),
    )
}

TASKS: tuple[Task, ...] = tuple(spec.name for spec in SPECS.values())
LAYOUTS: dict[str, LayoutSpec] = {
    layout.name: layout for spec in SPECS.values() for layout in spec.layouts
}
# Which task reads each layout.
LAYOUT_TASK: dict[str, str] = {
    layout.name: spec.name for spec in SPECS.values() for layout in spec.layouts
}
SYNTHETIC_KINDS: dict[str, LayoutSpec] = {
    layout.synthetic_kind: layout for layout in LAYOUTS.values()
}


def spec(task: str) -> TaskSpec:
    """The spec of ``task``, or a ConfigError naming the tasks there are."""
    try:
        return SPECS[task]
    except KeyError as e:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}") from e
