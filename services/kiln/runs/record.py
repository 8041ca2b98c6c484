"""``run.json``, typed: the record training writes and export and ``kiln runs`` read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kiln.data.info import DatasetInfo

# "stopped": a search's scheduler ended the run early (`kiln tune`); its checkpoints stay.
Status = Literal["running", "completed", "failed", "stopped"]


class RankReport(BaseModel):
    """What one training rank measured inside training, in its last attempt.

    ``steps_per_epoch`` counts the batches the rank ran in each epoch it trained (global
    examples / global batch when no cap applies); ``examples_sha256`` fingerprints the set of
    training examples the rank's input pipeline read. The per-example digests themselves are
    in the rank's own file (``ranks/<rank>.json``, a ``RankFile``).
    """

    rank: int
    task_index: int
    num_replicas_in_sync: int
    node_id: str = ""
    hostname: str = ""
    attempt: int = 1
    started_at: float = Field(default=0.0, description="Unix time this rank began training")
    epochs: list[int] = Field(default_factory=list)
    steps_per_epoch: list[int] = Field(default_factory=list)
    expected_steps_per_epoch: int = 0
    global_batch_size: int = 0
    examples_read: int = 0
    examples_sha256: str = ""
    trainable_weights_sha256: str = ""


class RankFile(RankReport):
    """``ranks/<rank>.json``: a rank's report plus the short digest of every example it read."""

    example_digests: list[str] = Field(default_factory=list)


class RunRecord(BaseModel):
    """``run.json``: what ran, on what data, how it went."""

    run_id: str
    task: str
    model: str
    status: Status = "running"
    error: str | None = None
    dataset_info: DatasetInfo | None = None
    workers: int
    per_worker_batch_size: int
    global_batch_size: int
    epochs_requested: int
    epochs_trained: int = 0
    trained: list[tuple[int, int]] = Field(
        default_factory=list, description="(attempt, epoch) of every epoch trained"
    )
    restarts: int = 0
    phases: list[dict[str, Any]] = Field(
        default_factory=list,
        description="each training phase: name, first epoch, learning rate, trainable and "
        "frozen layers (two with --base and --fine-tune-epochs)",
    )
    best_val_loss: float | None = None
    evaluation: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, Any] = Field(default_factory=dict)
    ray_address: str | None = None
    ranks: list[RankReport] = Field(default_factory=list)
    shared_examples: int | None = Field(
        default=None, description="training examples read by more than one rank (0: disjoint)"
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
