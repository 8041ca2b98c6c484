"""What the demo trains, and how small: one model per task with a budget that fits a laptop.

``quick`` is the default of ``kiln demo`` (a few minutes on 2 cores); ``tiny`` is for the test
that runs the demo end to end. Sizes are the builders' own knobs (narrower layers, smaller
images, fewer steps), never a different architecture.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kiln.tasks import TASKS, Task


class TaskPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Task
    kind: str  # the synthetic dataset kind (kiln.tasks.SYNTHETIC_KINDS)
    size: int  # how much synthetic data (images, or days of rows)
    model: str
    model_options: dict[str, Any] = Field(default_factory=dict)
    data_options: dict[str, Any] = Field(default_factory=dict)
    epochs: int
    batch_size: int = 16
    steps_per_epoch: int | None = None
    early_stopping_patience: int = 5


def plans_by_task(scale: Literal["quick", "tiny"]) -> dict[str, TaskPlan]:
    """What the demo trains for each task at ``scale``."""
    tiny = scale == "tiny"
    plans = [
        TaskPlan(
            task="segmentation",
            kind="segmentation",
            size=16 if tiny else 120,
            model="segmentation_convnet",
            model_options={"filters": [8, 8, 16, 16] if tiny else [16, 16, 32, 32]},
            data_options={"image_size": [32, 32]},
            # The model sits at the background share (~0.79 of pixels) for ~40 steps before it
            # finds the shapes: 16 epochs of 9 steps leave room, and patience outlasts it.
            epochs=1 if tiny else 16,
            batch_size=4 if not tiny else 8,
            early_stopping_patience=8,
        ),
        TaskPlan(
            task="classification",
            kind="classification",
            size=24 if tiny else 200,
            model="mini_xception",
            model_options={
                "stem_filters": 8 if tiny else 16,
                "block_sizes": [8, 16] if tiny else [16, 32, 64],
                # A short run needs faster-moving BatchNorm statistics, or inference-mode
                # validation sits at chance while training accuracy climbs (docs/benchmarks.md,
                # "Demo budget").
                "batchnorm_momentum": 0.8,
            },
            data_options={"image_size": [32, 32]},
            epochs=1 if tiny else 12,
            batch_size=8,
        ),
        TaskPlan(
            task="forecasting",
            kind="forecasting",
            size=20 if tiny else 60,  # 120-sample windows need about 44 days
            model="lstm",
            model_options={"units": 4 if tiny else 16},
            data_options={"sequence_length": 24, "sampling_rate": 6} if tiny else {},
            epochs=1 if tiny else 4,
            batch_size=32,
            steps_per_epoch=5 if tiny else 60,
        ),
    ]
    return {plan.task: plan for plan in plans}


BUDGETS = ("quick", "tiny")


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str = "demo-output"
    budget: Literal["quick", "tiny"] = "quick"
    tasks: list[Task] = Field(default_factory=lambda: list(TASKS))
    workers: int = Field(default=2, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000
    requests_per_task: int = Field(default=20, ge=1)
    seed: int = 0

    def plans(self) -> list[TaskPlan]:
        return [plan for plan in plans_by_task(self.budget).values() if plan.task in self.tasks]
