"""`kiln tune` on a real local Ray: one small search of the LSTM on the Jena-layout synthetic
CSV, three trials of at most two epochs, each trial a Ray Train run of one worker, two trials
at a time; every assertion below reads this one search. (Resuming an interrupted search is
proved on object storage, in test_tune_on_s3.py.)

Early stopping is certain, not a matter of timing: the plan (seed 9) is the defaults (learning
rate 1e-3), then 1e-2, then a hopeless 1e-6. Two trials run at once, so the hopeless trial
starts only when one of the first two has ended, after a useful learning rate has recorded its
epoch-1 value at ASHA's first rung (grace period 1); worse than the rung's median, the hopeless
trial is stopped there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.tuning import SearchConfig, check_search
from kiln.tuning.driver import run_search

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE = {
    "models": {
        "lstm": {
            "units": 8,
            "learning_rate": {"values": [1e-3, 1e-2, 1e-6]},
            "batch_size": 32,
            "dropout": 0,
            "recurrent_dropout": 0,
        }
    }
}
SEED = 9  # draws the trials 1e-3 (defaults), 1e-2, 1e-6: asserted below
# °C of validation MAE between the best and the worst trial: a learning rate of 1e-3 or more
# moves the MAE by degrees in two epochs, one of 1e-6 does not move it.
MARGIN_CELSIUS = 0.5


def test_a_search_stops_a_bad_trial_early_and_its_winner_exports(
    ray_local, jena_dir, tmp_path, quiet_console
):
    config = SearchConfig.model_validate(
        {
            "task": "forecasting",
            "models": ["lstm"],
            "data": str(jena_dir),
            "trials": 3,
            "max_epochs": 2,
            "workers_per_trial": 1,
            "max_concurrent_trials": 2,
            "grace_period": 1,
            "steps_per_epoch": 10,
            "space": SPACE,
            "seed": SEED,
            "out": str(tmp_path),
            "search_id": "s",
        }
    )
    rates = [plan.params["learning_rate"] for plan in check_search(config)]
    assert rates == [1e-3, 1e-2, 1e-6], rates

    record = run_search(config, console=quiet_console)
    search_dir = tmp_path / "s"
    assert record.status == "completed" and len(record.trials) == 3

    stopped = [t for t in record.trials if t.outcome == "stopped"]
    assert record.early_stopped == len(stopped) >= 1
    assert "t002-lstm" in [t.name for t in stopped]  # the hopeless one, at the first rung
    assert all(t.epochs < 2 and "ASHA stopped it" in t.reason for t in stopped)
    maes = [t.best_val_mae for t in record.trials if t.best_val_mae is not None]
    best = record.trials[0]
    assert best.best_val_mae is not None and best.best_val_mae <= max(maes) - MARGIN_CELSIUS
    assert record.best == best.name and record.test_evaluation["test_mae_celsius"] > 0
    for name in ("search.json", "results.txt", "trials.png", "hyperparameters.png"):
        assert (search_dir / name).is_file(), name
    # Every trial is an ordinary run; the stopped ones say so.
    for trial in record.trials:
        run = json.loads((Path(trial.run_dir) / "run.json").read_text())
        assert run["status"] == ("stopped" if trial.outcome == "stopped" else "completed")
        assert (Path(trial.run_dir) / "best.keras").is_file()

    runner = CliRunner()
    listing = runner.invoke(cli, ["runs", "list", "--out", str(tmp_path)])
    assert listing.exit_code == 0, listing.output
    assert "s-t000" in listing.output or "t000-lstm" in listing.output
    exported = runner.invoke(
        cli, ["export", str(record.best_run_dir), "--registry", str(tmp_path / "registry")]
    )
    assert exported.exit_code == 0, exported.output
