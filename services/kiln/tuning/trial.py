"""One trial of a search: an ordinary Kiln training run with the trial's hyperparameters.

``run_trial`` is the Tune function trainable. It starts the run through the training driver
(``kiln.training.train``), so a trial has the same TensorflowTrainer, callbacks, checkpoints
and run directory as `kiln train`; the driver sees it is inside a Tune trial and reports each
epoch to Tune. A trial that Tune restarts after an interruption continues its run from the
last checkpoint (``kiln.training.resume``) instead of starting over.
"""

from __future__ import annotations

from typing import Any

from kiln import storage
from kiln.errors import StorageError
from kiln.storage.uris import basename
from kiln.tuning.config import SearchConfig
from kiln.tuning.plan import TrialPlan
from kiln.tuning.progress import run_status

TRIALS_DIR = "trials"
DEFAULT_BATCH_SIZE = 32


def read_text(uri: str) -> str | None:
    """The text of a file of the search (local or on object storage), None if it is absent."""
    try:
        return storage.read_bytes(uri).decode()
    except StorageError as e:
        if e.status == 404:
            return None
        raise


def trial_run_id(search_id: str, plan: TrialPlan) -> str:
    return f"{search_id}-{plan.name}"


def trial_config(search: SearchConfig, plan: TrialPlan, search_dir: str) -> Any:
    """The TrainConfig of ``plan``'s run: the search's data and budget, the plan's values."""
    from kiln.models.spaces import space_of
    from kiln.training import TrainConfig

    declared = space_of(plan.model)
    model_options = {
        name: value for name, value in plan.params.items() if declared[name].target == "model"
    }
    data_options = search.data_options
    if "image_size" in plan.params:
        side = int(plan.params["image_size"])
        data_options = data_options.model_copy(update={"image_size": (side, side)})
    return TrainConfig(
        task=search.task,
        model=plan.model,
        data=search.data,
        data_options=data_options,
        model_options=model_options,
        epochs=search.max_epochs,
        batch_size=int(plan.params.get("batch_size", DEFAULT_BATCH_SIZE)),
        workers=search.workers_per_trial,
        cpus_per_worker=search.cpus_per_worker,
        steps_per_epoch=search.steps_per_epoch,
        seed=search.seed,
        out=storage.join(search_dir, TRIALS_DIR),
        run_id=trial_run_id(basename(search_dir), plan),
    )


def run_trial(parameters: dict[str, Any]) -> None:
    """Tune's entry point: ``parameters`` holds the search config, its directory and the plan."""
    from rich.console import Console

    from kiln.runs import CONFIG_FILE, RunDir
    from kiln.training import resume, train

    search = SearchConfig.model_validate(parameters["search"])
    plan = TrialPlan.model_validate(parameters["plan"])
    config = trial_config(search, plan, str(parameters["search_dir"]))
    run = RunDir(storage.join(config.out, str(config.run_id)))
    quiet = Console(quiet=True)
    if run.exists(CONFIG_FILE):
        if run_status(run.uri) in ("completed", "stopped"):
            return  # ended before an interruption: a resumed search does not run it again
        resume(run.uri, console=quiet)
    else:
        train(config, console=quiet)
