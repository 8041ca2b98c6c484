"""The names of a run's files, defined once for the writer (training) and every reader.

``<RUNS>/<run_id>/`` holds:

- ``config.yaml``: the resolved TrainConfig (what ``--resume`` continues);
- ``run.json``: the ``RunRecord`` (what ran, on what data, how it went, what each rank did);
- ``metrics.json``: the per-epoch history, Keras-History style;
- ``best.keras``: the best model by val_loss (what export converts);
- ``learning_curves.png`` and, for classifiers, ``confusion_matrix.png``;
- ``validation_sample.npz``: ``x``, ``y``, up to 64 validation items (export's parity gate);
- ``training_sample.npz``: ``x``, a few hundred TRAINING items spread over the split (export's
  training statistics, what serving measures drift against);
- ``logs/``: the driver's and Ray's own logs;
- ``ranks/<rank>.json``: each training rank's own report, gathered into ``run.json``;
- ``checkpoints/``: Ray Train's checkpoints, what ``kiln train --resume`` continues from;
- ``tensorboard/`` and ``training_log.csv``: rank 0's epoch logs (``kiln.training.logs``).
"""

from __future__ import annotations

CONFIG_FILE = "config.yaml"
RECORD_FILE = "run.json"
METRICS_FILE = "metrics.json"
BEST_MODEL_FILE = "best.keras"
CURVES_FILE = "learning_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
SAMPLE_FILE = "validation_sample.npz"
TRAINING_SAMPLE_FILE = "training_sample.npz"
LOGS_DIR = "logs"
RANKS_DIR = "ranks"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
CSV_LOG_FILE = "training_log.csv"
