"""`kiln tune`: a hyperparameter search on Ray Tune, each trial a Kiln training run."""

from __future__ import annotations

import json
import os

import click

from kiln.commands._common import kiln_errors
from kiln.config import DEFAULT_RUNS_DIR, TASKS


@click.command(context_settings={"show_default": True})
@click.option("--task", type=click.Choice(TASKS), help="What to learn.")
@click.option("--model", "models", help="Architecture(s) to search, comma-separated.")
@click.option("--data", type=click.Path(), help="Dataset in its real on-disk layout.")
@click.option(
    "--trials", type=int, default=8, help="Trials in all (each model's first: its defaults)."
)
@click.option("--max-epochs", type=int, default=10, help="Epochs a trial may train at most.")
@click.option("--workers-per-trial", type=int, default=2, help="Ray Train workers per trial.")
@click.option("--cpus-per-worker", type=float, default=1.0, help="CPUs each worker reserves.")
@click.option("--scheduler", type=click.Choice(["asha", "median", "none"]), default="asha")
@click.option("--metric", default="val_loss", help="What ranks the trials (val_loss, val_mae…).")
@click.option("--time-budget", help="Stop the search after this long, e.g. 30m or 2h.")
@click.option("--space", "space_file", help="Search space: a YAML file, or inline JSON.")
@click.option("--steps-per-epoch", type=int, help="Cap on steps per epoch, for quick searches.")
@click.option("--seed", type=int, default=0, help="Seed of the trials' draw and of training.")
@click.option("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray).")
@click.option(
    "--out", type=click.Path(file_okay=False), default=DEFAULT_RUNS_DIR, help="Runs directory."
)
@click.option("--search-id", help="Name of the search directory (default: task-search-time).")
@click.option(
    "--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue this search."
)
@kiln_errors
def tune(resume_dir: str | None, space_file: str | None, models: str | None, **flags) -> None:
    """Search hyperparameters with Ray Tune: each trial is a distributed `kiln train` run,
    ASHA stops poor trials early, the best run is ready for `kiln export`.

    \b
    Examples:
      kiln tune --task forecasting --model lstm --data jena/ --trials 8 --max-epochs 10
      kiln tune --task forecasting --model lstm,stacked_gru --data jena/ --space space.yaml
      kiln tune --resume kiln-runs/forecasting-search-20250101-120000

    The search directory (--out/--search-id) receives search.yaml, plan.json, Tune's
    experiment, one run directory per trial under trials/, and at the end search.json,
    results.txt, trials.png and hyperparameters.png.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kiln.config import load_yaml, ray_address, validate
    from kiln.tuning import SearchConfig
    from kiln.tuning.driver import resume_search, run_search
    from kiln.tuning.space import parse_space_file

    if resume_dir is not None:
        resume_search(resume_dir)
        return
    missing = [
        f"--{n}"
        for n, v in (("task", flags["task"]), ("model", models), ("data", flags["data"]))
        if not v
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or give --resume SEARCH_DIR)")
    data = {key: value for key, value in flags.items() if value is not None}
    data["models"] = [name.strip() for name in str(models).split(",") if name.strip()]
    data["address"] = ray_address(flags.get("address"))
    if space_file is not None and space_file.lstrip().startswith("{"):
        data["space"] = parse_space_file(json.loads(space_file), "--space")  # inline JSON
    elif space_file is not None:
        data["space"] = parse_space_file(load_yaml(space_file), space_file)
    run_search(validate(SearchConfig, data, source="options"))
