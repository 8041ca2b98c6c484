"""What a loader found: the dataset's shape, splits, preprocessing figures and fingerprint.

``DatasetInfo`` is TF-free (pydantic only) because it crosses every boundary: training writes it
into ``run.json``, export turns it into the manifest's preprocessing block, and the model
builders read the input shape and class count from it. ``LoadOptions`` is the typed set of
knobs a user may turn on a loader; its defaults are the book's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kiln import tasks
from kiln.tasks import Layout, Task

LAYOUTS: tuple[str, ...] = tuple(tasks.LAYOUTS)

# Which layouts each task can read; the first one is what `kiln data synth` writes by default.
TASK_LAYOUTS: dict[str, tuple[str, ...]] = {
    name: spec.layout_names for name, spec in tasks.SPECS.items()
}

# The image side each layout is resized to unless the user says otherwise (the book's sizes).
DEFAULT_IMAGE_SIZE: dict[str, int] = {
    name: layout.book_input[0]
    for name, layout in tasks.LAYOUTS.items()
    if tasks.SPECS[tasks.LAYOUT_TASK[name]].modality == "image"
}


Side = Annotated[int, Field(ge=1, le=8192)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Fingerprint(_Model):
    """Identifies the bytes a run was trained on, without hashing every byte of every file.

    ``sha256`` hashes the sorted list of ``relative/path<TAB>size`` lines of the files the loader
    considered (dotfiles excluded), so renaming, adding, removing or resizing a file changes it.
    """

    root: str
    file_count: int
    total_bytes: int
    sha256: str


class SplitCounts(_Model):
    """Elements per split: images for image tasks, windows for forecasting."""

    train: int
    validation: int
    test: int


class LoadOptions(_Model):
    """Loader knobs. Every field has the book's default; ``None`` means "the layout's default".

    Image layouts:
      ``image_size`` — (height, width) to resize to; default 200×200 for pets, 180×180 for a
      folder, 28×28 (no resize) for MNIST.
      ``validation_count`` / ``test_count`` — pets: after one seeded shuffle of the pairs, the
      last ``validation_count`` pairs are validation and the ``test_count`` before them are
      test. On small data both are clamped to at most a fifth of the pairs each (at least one)
      and the clamp is recorded in ``DatasetInfo.warnings``.
      ``validation_fraction`` / ``test_fraction`` — a folder without train/validation/test
      sub-folders is split per class with these fractions (default 0.15 each); MNIST carves
      validation from its training arrays with ``validation_fraction`` (default 1/6, the
      book's 10,000 of 60,000; its test split is ``x_test``/``y_test``).
      ``memory_budget_mb`` — images are decoded once into uint8 arrays; a dataset whose decoded
      size would exceed this budget is refused with a DataError instead of swapping.
    Forecasting (Jena):
      ``train_fraction`` / ``validation_fraction`` — chronological 0.5 / 0.25, the rest test;
      ``sequence_length`` 120 samples taken every ``sampling_rate`` 6 rows (hourly, five days);
      the target is ``target_column`` (raw °C) ``horizon_hours`` 24 after the window's last row.
    Forecasting on any CSV (``timeseries_csv``, rules in ``kiln.data.timeseries_read``):
      ``time_column`` (default: detected), ``features`` (default: every numeric column; the
      target is always one), ``window`` / ``step`` / ``horizon`` as durations (``5d``, ``1h``,
      ``24h``; defaults ``sequence_length`` × ``step``, one hour or the interval, and
      ``horizon_hours``), ``gaps`` (``split`` into segments windows never cross, ``fill`` up to
      ``max_fill`` missing rows by linear interpolation, or ``refuse``), ``duplicates``
      (``refuse``, or keep the ``first`` / ``last`` / ``mean``) and ``sentinels`` (values that
      mean "missing").
    ``layout`` forces a layout instead of detecting it; ``seed`` fixes every shuffle.
    """

    layout: Layout | None = None
    seed: int = 1337
    image_size: tuple[Side, Side] | None = None
    validation_count: int = Field(default=1000, ge=1)
    test_count: int = Field(default=1000, ge=1)
    validation_fraction: float | None = Field(default=None, gt=0.0, lt=1.0)
    test_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)
    memory_budget_mb: int = Field(default=2048, ge=1)
    train_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)
    sequence_length: int = Field(default=120, ge=2)
    sampling_rate: int = Field(default=6, ge=1)
    horizon_hours: float = Field(default=24.0, gt=0.0)
    target_column: str = "T (degC)"
    time_column: str | None = None
    features: list[str] | None = None
    window: str | None = None
    step: str | None = None
    horizon: str | None = None
    gaps: Literal["split", "fill", "refuse"] = "split"
    max_fill: int = Field(default=3, ge=0)
    duplicates: Literal["refuse", "first", "last", "mean"] = "refuse"
    sentinels: list[float] = Field(default_factory=lambda: [-9999.0])


class DatasetInfo(_Model):
    """Everything downstream stages need to know about a loaded dataset.

    Image tasks fill the ``image_*`` and ``class_names`` fields; forecasting fills the
    timeseries fields and ``naive_baseline_mae``. ``input_shape`` excludes the batch dimension.

    Classification heads: with two classes the models end in one sigmoid unit whose output is
    the probability of ``class_names[1]``; with more they end in a softmax over ``class_names``
    (see ``kiln.models.catalog.classification_head``).
    """

    task: Task
    layout: Layout
    root: str
    input_shape: list[int]
    num_classes: int = 0
    class_names: list[str] = Field(default_factory=list)
    # Image tasks.
    image_height: int | None = None
    image_width: int | None = None
    image_channels: int | None = None
    # Forecasting.
    columns: list[str] = Field(default_factory=list)
    mean: list[float] = Field(default_factory=list)
    std: list[float] = Field(default_factory=list)
    sequence_length: int | None = None
    sampling_rate: int | None = None
    target_column: str | None = None
    horizon_hours: float | None = None
    row_interval_minutes: float | None = None
    delay_rows: int | None = None
    naive_baseline_mae: float | None = None
    time_column: str | None = None
    # Each column's unit, from a header such as ``T (degC)`` ("" where the header gives none).
    units: list[str] = Field(default_factory=list)
    target_unit: str | None = None
    # The target's mean and standard deviation over the training rows (``timeseries_csv``): the
    # forecasting models learn the target in these units and scale back in their last layer, so
    # a target in the thousands trains as well as one near zero. None for the Jena preset,
    # which keeps the book's raw-°C head.
    target_mean: float | None = None
    target_std: float | None = None
    # Bookkeeping.
    split_counts: SplitCounts
    skipped_files: int = 0
    converted_files: int = 0
    warnings: list[str] = Field(default_factory=list)
    fingerprint: Fingerprint

    @property
    def is_image(self) -> bool:
        return tasks.SPECS[self.task].modality == "image"

    @property
    def raw_rows(self) -> int:
        """Raw CSV rows one forecasting window spans (what a serving request must carry)."""
        if self.sequence_length is None or self.sampling_rate is None:
            raise ValueError(f"{self.layout} data has no timeseries windows")
        return (self.sequence_length - 1) * self.sampling_rate + 1
