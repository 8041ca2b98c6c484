"""What the gradients' all-reduce costs two workers, alone: the part of a 2-worker epoch that a
1-worker epoch does not pay.

``python -m tests.benchmarks.allreduce_cost CONFIG.yaml`` starts a local Ray,
runs two Ray Train workers under MultiWorkerMirroredStrategy (``kiln.training.worker``'s own
strategy), builds the config's model on each, and times an all-reduce of a gradient-shaped
tensor for every trainable variable, batched as one collective the way the optimizer's update
reduces them. Prints one JSON line: seconds per all-reduce (one per training step) and the
trainable parameters.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPEATS = 30


def _timed(function: Any, repeats: int = REPEATS) -> float:
    for _ in range(3):  # trace and warm up
        function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def _loop(loop_config: dict[str, Any]) -> None:
    import numpy as np
    import ray.train
    import tensorflow as tf

    from kiln.data.loaders import load_splits
    from kiln.models.build import build_model
    from kiln.training.config import TrainConfig
    from kiln.training.worker import make_strategy

    config = TrainConfig.model_validate(loop_config["config"])
    strategy = make_strategy(2)
    splits = load_splits(config.task, config.data, config.data_options)
    with strategy.scope():
        model = build_model(config.model, splits.info, **config.model_options)
    variables = model.trainable_variables

    @tf.function
    def all_reduce() -> Any:
        def replica() -> Any:
            gradients = [tf.ones_like(variable) for variable in variables]
            reduced = tf.distribute.get_replica_context().all_reduce("sum", gradients)
            # One element of each, so the result waits for every reduction to finish.
            return tf.add_n([tf.reshape(tensor, [-1])[0] for tensor in reduced])

        return strategy.run(replica)

    def reduce_and_wait() -> None:
        for value in strategy.experimental_local_results(all_reduce()):
            value.numpy()

    reduce_seconds = _timed(reduce_and_wait)
    parameters = int(sum(np.prod(variable.shape) for variable in variables))
    if ray.train.get_context().get_world_rank() == 0:
        figures = {"all_reduce_s": reduce_seconds, "parameters": parameters}
        Path(loop_config["out"]).write_text(json.dumps(figures))


def main(config_path: str) -> None:
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    from kiln.training.config import load_config

    config = load_config(config_path)
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="kiln-bench-allreduce-") as storage:
            out = Path(storage) / "figures.json"
            trainer = TensorflowTrainer(
                _loop,
                train_loop_config={"config": config.model_dump(mode="json"), "out": str(out)},
                scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                run_config=RunConfig(
                    storage_path=storage,
                    worker_runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}},
                ),
            )
            trainer.fit()
            # Rank 0 wrote its figures on this machine (Ray Train V2's result carries only
            # metrics reported with a checkpoint).
            print(out.read_text())
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
