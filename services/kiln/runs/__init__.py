"""The run directory: the hand-off from training (writer) to export and ``kiln runs`` (readers).

TF-free and Ray-free. A run lives at a run URI: a local directory or an object-store prefix
such as ``s3://bucket/runs/<run_id>``; its files are named once in ``kiln.runs.files`` and its
record (``run.json``) is the typed ``RunRecord``.
"""

from __future__ import annotations

from kiln.runs.files import (
    BEST_MODEL_FILE,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    CONFUSION_FILE,
    CSV_LOG_FILE,
    CURVES_FILE,
    LOGS_DIR,
    METRICS_FILE,
    RANKS_DIR,
    RECORD_FILE,
    SAMPLE_FILE,
    TENSORBOARD_DIR,
    TRAINING_SAMPLE_FILE,
)
from kiln.runs.ranks import gather_ranks
from kiln.runs.record import RankFile, RankReport, RunRecord, Status, now
from kiln.runs.rundir import RunDir, list_runs, run_uri

__all__ = [
    "BEST_MODEL_FILE",
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "CONFUSION_FILE",
    "CSV_LOG_FILE",
    "CURVES_FILE",
    "LOGS_DIR",
    "METRICS_FILE",
    "RANKS_DIR",
    "RECORD_FILE",
    "SAMPLE_FILE",
    "TRAINING_SAMPLE_FILE",
    "TENSORBOARD_DIR",
    "RankFile",
    "RankReport",
    "RunDir",
    "RunRecord",
    "Status",
    "gather_ranks",
    "list_runs",
    "now",
    "run_uri",
]
