"""The demo's steps, in order, with progress; see ``kiln.demo`` for the story.

Ray starts once here (unless the caller already started it) and is reused by every training
run, the exports and Serve. Everything is left stopped at the end unless ``keep_serving``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console

from kiln.demo import client, plots
from kiln.demo.plan import DemoConfig, TaskPlan
from kiln.demo.report import DemoResult, TaskOutcome, report, score
from kiln.demo.samples import Samples, image_samples, window_samples
from kiln.registry import Manifest
from kiln.tasks import SPECS


def run_demo(
    config: DemoConfig, console: Console | None = None, keep_serving: bool = False
) -> DemoResult:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console = console or Console()
    started = time.perf_counter()
    out = Path(config.out).resolve()
    # Only the demo's own sub-directories are replaced; anything else in --out stays.
    for part in ("data", "runs", "registry"):
        shutil.rmtree(out / part, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    plans = config.plans()
    steps = 5
    console.rule(f"[bold]kiln demo[/] — {', '.join(p.task for p in plans)} ({config.budget})")

    console.print(f"[bold][1/{steps}][/] synthetic data in the real layouts")
    from kiln.data.synthetic import write_synthetic

    for plan in plans:
        written = write_synthetic(
            plan.kind, out / "data" / plan.task, size=plan.size, seed=config.seed
        )
        console.print(f"  {plan.task}: {written.summary()}")

    import ray

    from kiln import localray

    started_ray = not ray.is_initialized()
    if started_ray:  # HAProxy ingress, every Ray process on loopback
        localray.init(training=True)
    result = DemoResult(out=out, url="")
    server = None
    try:
        runs, manifests, timings = _train_and_export(config, plans, out, console, steps)
        console.print(f"[bold][4/{steps}][/] serving on {config.host}:{config.port}")
        server = _serve(config, out, manifests)
        result.url, result.server = server.url, server
        console.print(f"  ready at {server.url} (docs at {server.url}/docs)")
        console.print(f"[bold][5/{steps}][/] real requests through /v1 and OIP v2, then plots")
        for plan in plans:
            outcome, drawn = _exercise(
                config,
                plan,
                out,
                server.url,
                manifests[plan.task],
                runs[plan.task],
                timings[plan.task],
            )
            result.outcomes.append(outcome)
            result.plots.extend(drawn)
            console.print(
                f"  {plan.task}: {outcome.metric} {outcome.served:.3f} "
                f"(baseline {outcome.baseline:.3f}), v1 p50 {outcome.v1_p50_ms:.1f} ms"
            )
    finally:
        if not keep_serving:
            if server is not None:
                from ray import serve

                serve.shutdown()
            if started_ray:
                ray.shutdown()
            result.server = None
    result.seconds = time.perf_counter() - started
    report(result, console)
    return result


def _train_and_export(
    config: DemoConfig, plans: list[TaskPlan], out: Path, console: Console, steps: int
) -> tuple[dict[str, Path], dict[str, Manifest], dict[str, tuple]]:
    from kiln.data.info import LoadOptions
    from kiln.export import export_run
    from kiln.training import TrainConfig, train
    from kiln.training.config import EarlyStoppingConfig

    runs: dict[str, Path] = {}
    manifests: dict[str, Manifest] = {}
    timings: dict[str, tuple] = {}
    for index, plan in enumerate(plans, 1):
        console.print(
            f"[bold][2/{steps}][/] training {plan.task} ({plan.model}) on Ray Train, "
            f"{config.workers} workers — {index}/{len(plans)}"
        )
        began = time.perf_counter()
        run = train(
            TrainConfig(
                task=plan.task,
                model=plan.model,
                data=str(out / "data" / plan.task),
                data_options=LoadOptions(**plan.data_options),
                model_options=plan.model_options,
                epochs=plan.epochs,
                batch_size=plan.batch_size,
                workers=config.workers,
                steps_per_epoch=plan.steps_per_epoch,
                early_stopping=EarlyStoppingConfig(patience=plan.early_stopping_patience),
                # The demo recovers from no failure and resumes nothing: one checkpoint, at
                # the end (or where EarlyStopping ends the run), instead of one per epoch.
                checkpoint_every=plan.epochs,
                seed=config.seed,
                out=str(out / "runs"),
                run_id=f"{plan.task}-{plan.model}",
            ),
            console=console,
        )
        trained = time.perf_counter() - began
        console.print(f"[bold][3/{steps}][/] exporting {plan.task} to ONNX (parity-gated)")
        began = time.perf_counter()
        manifests[plan.task] = export_run(
            run.run_dir,
            str(out / "registry"),
            name=f"demo-{plan.task}",
            progress=lambda message: console.print(f"  {message}"),
        )
        runs[plan.task] = run.run_dir
        timings[plan.task] = (trained, time.perf_counter() - began)
        console.print(f"  registered {manifests[plan.task].ref}")
    return runs, manifests, timings


def _serve(config: DemoConfig, out: Path, manifests: dict[str, Manifest]):
    from kiln.serving import launch
    from kiln.serving.config import ModelChoice, ServeArgs

    models = {task: ModelChoice(name=m.name, version=m.version) for task, m in manifests.items()}
    args = ServeArgs.model_validate({"registry": str(out / "registry"), "models": models})
    return launch.start(args, host=config.host, port=config.port)


def _plot_overlay(out: Path, samples: Samples, served: client.Served, _: Manifest) -> Path:
    path = out / "segmentation_overlay.png"
    plots.segmentation_overlay(samples.inputs, samples.truth, served.outputs, path)
    return path


def _plot_forecast(out: Path, samples: Samples, served: client.Served, _: Manifest) -> Path:
    path = out / "forecast_vs_truth.png"
    plots.forecast_vs_truth(samples.truth, served.outputs, samples.naive, path)
    return path


def _plot_confusion(out: Path, samples: Samples, served: client.Served, manifest: Manifest) -> Path:
    path = out / "confusion_matrix.png"
    names = list(manifest.preprocessing.class_names)  # type: ignore[union-attr]
    matrix = np.zeros((len(names), len(names)), dtype=int)
    for truth, predicted in zip(samples.truth, served.outputs, strict=True):
        if predicted >= 0:
            matrix[truth, predicted] += 1
    plots.confusion_matrix(matrix.tolist(), names, path)
    return path


HEATMAPS_SHOWN = 6


def plot_heatmaps(
    out: Path, url: str, images: list[np.ndarray], served: client.Served
) -> tuple[Path, str]:
    """The classifier's Grad-CAM as served by /v1/classification/explain, titled with its
    latency beside predict's; ``(the plot, that title)``."""
    answers, seconds = client.explain_images(url, images[:HEATMAPS_SHOWN])
    overlays = [a["_overlay"] for a in answers]
    titles = [f"{a['label']} (p={a['probability']:.2f})" for a in answers]
    heading = (
        f"served Grad-CAM: POST /v1/classification/explain, p50 {np.median(seconds) * 1000:.0f} ms "
        f"(predict p50 {served.v1_p50_ms:.0f} ms)"
    )
    path = out / "heatmaps.png"
    plots.served_heatmaps(overlays, titles, heading, path)
    return path, heading


# The plot each task's served answers are drawn as.
PLOTS: dict[str, Callable[[Path, Samples, client.Served, Manifest], Path]] = {
    "segmentation": _plot_overlay,
    "classification": _plot_confusion,
    "forecasting": _plot_forecast,
}


def _exercise(
    config: DemoConfig,
    plan: TaskPlan,
    out: Path,
    url: str,
    manifest: Manifest,
    run_dir: Path,
    timing: tuple[float, float],
) -> tuple[TaskOutcome, list[Path]]:
    data, count = out / "data" / plan.task, config.requests_per_task
    drawn = [p for p in [plots.copy_learning_curves(run_dir, plan.task, out)] if p]
    if SPECS[plan.task].modality == "timeseries":
        samples = window_samples(data, plan.data_options, manifest, count)
        served = client.serve_windows(url, plan.task, samples.inputs)
    else:
        samples = image_samples(plan.task, data, plan.data_options, count)
        class_names = list(manifest.preprocessing.class_names)  # type: ignore[union-attr]
        served = client.serve_images(url, plan.task, samples.inputs, class_names)
    assert samples.tensors is not None
    client.infer_v2(url, manifest.name, samples.tensors, served)
    metric, value, baseline_name, baseline, agree = score(plan.task, samples, served)
    drawn.append(PLOTS[plan.task](out, samples, served, manifest))
    if manifest.explain is not None:
        drawn.append(plot_heatmaps(out, url, samples.inputs, served)[0])
    parity = manifest.parity
    return TaskOutcome(
        task=plan.task,
        model=f"{manifest.ref} ({manifest.architecture})",
        metric=metric,
        served=value,
        baseline_name=baseline_name,
        baseline=baseline,
        parity_max_abs_diff=parity.max_abs_diff if parity else None,
        parity_atol=parity.atol if parity else None,
        v1_p50_ms=served.v1_p50_ms,
        v2_batch_ms=served.v2_seconds * 1000,
        apis_agree=agree,
        train_seconds=timing[0],
        export_seconds=timing[1],
    ), drawn
