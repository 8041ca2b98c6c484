"""The link from a training run to Ray Tune: a run started inside a Tune trial (``kiln tune``)
reports each epoch's metrics to the trial, so the search's scheduler sees them, and leaves the
test split alone: a search evaluates only the trial it chooses on the test set."""

from __future__ import annotations

from typing import Any


def in_search_trial() -> bool:
    from ray.tune.trainable.trainable_fn_utils import _in_tune_session

    return bool(_in_tune_session())


def tune_report_callbacks() -> list[Any]:
    """Ray Train callbacks for the run: Tune's reporter inside a Tune trial, else none."""
    if not in_search_trial():
        return []
    from ray.tune.integration.ray_train import TuneReportCallback

    return [TuneReportCallback()]
