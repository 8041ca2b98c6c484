"""One export, start to finish: read the run, convert, audit, prove parity, register.

Nothing reaches the registry unless every step passed: the ONNX bytes are checked by
``onnx.checker``, opened by an onnxruntime CPU session, audited for ops that do not belong in an
inference graph, and compared with Keras on the run's validation sample.

Run as ``python -m kiln.export.pipeline CONFIG_JSON`` it is the GPU-free child process that
``run_export`` falls back to when its caller's TensorFlow already holds a GPU.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiln import errors
from kiln.errors import DataError, KilnError
from kiln.export import gpu
from kiln.export.config import ExportConfig
from kiln.registry import ExplainGraph, Manifest, RegistryStore
from kiln.registry.store import check_name
from kiln.tasks import SPECS

if TYPE_CHECKING:
    from kiln.export.run_reader import RunArtifacts

Progress = Callable[[str], None]


def run_export(config: ExportConfig, progress: Progress | None = None) -> Manifest:
    """Export the run at ``config.run_dir`` (a directory or URI) into ``config.registry``; returns the stored manifest."""
    say = progress or (lambda message: None)
    if gpu.hide_gpus():
        return _export(config, say)
    say("TensorFlow already holds a GPU in this process: exporting in a GPU-free child process")
    return _export_in_child(config)


def _export(config: ExportConfig, say: Progress) -> Manifest:
    from kiln.export.run_reader import read_run

    with tempfile.TemporaryDirectory(prefix="kiln-export-") as scratch:
        return _export_from(config, read_run(config.run_dir, Path(scratch)), say)


def _export_from(config: ExportConfig, run: RunArtifacts, say: Progress) -> Manifest:
    # TensorFlow is imported only now, after hide_gpus() had its chance.
    from kiln.export.audit import audit_ops, recurrent_notes
    from kiln.export.batching import TIMING_LIMIT, fastest_batch_size
    from kiln.export.convert import op_summary, producer_versions, tensor_specs, to_onnx
    from kiln.export.describe import build_manifest, preprocessing_for
    from kiln.export.parity import check_parity, cpu_session
    from kiln.export.stats import stats_for
    from kiln.export.twin import inference_twin

    name = check_name(config.name or run.model)
    store = RegistryStore(config.registry)  # a bad registry URI fails before the slow part
    say(f"loading {run.checkpoint} ({run.task}, {run.model})")
    model = load_checkpoint(run.checkpoint)
    twin, notes = inference_twin(model)
    for note in notes:
        say(f"inference twin: {note}")
    say(f"converting with tf2onnx (opset {config.opset}, dynamic batch)")
    proto = to_onnx(twin, list(run.info.input_shape), config.opset)
    onnx_bytes = proto.SerializeToString()
    ops = op_summary(proto)
    audit_ops(name, ops)
    say("ops: " + ", ".join(f"{op}×{count}" for op, count in ops.items()))
    session = cpu_session(onnx_bytes)
    say(f"parity: {len(run.sample_x)} validation items + {config.random_samples} random inputs")
    parity = check_parity(
        model,
        session,
        run.sample_x,
        name=name,
        atol=config.atol,
        random_count=config.random_samples,
        seed=config.seed,
    )
    notes += recurrent_notes(model, ops, session, run.sample_x)
    stats = stats_for(run.task, preprocessing_for(run.info), run.train_x, session)
    if stats is None:
        say("no training sample in the run: registered without training statistics (no drift)")
    else:
        say(f"training statistics: {stats.samples} training items")
    explain, explain_bytes = explain_for(twin, run, config, name, say)
    manifest = build_manifest(
        run,
        name=name,
        opset=config.opset,
        inputs=tensor_specs(proto.graph.input),
        outputs=tensor_specs(proto.graph.output),
        op_summary=ops,
        parity=parity,
        notes=notes,
        producer=producer_versions(),
        training_stats=stats,
    )
    preferred = fastest_batch_size(onnx_bytes, manifest.inputs[0])
    say(
        f"batch size: {preferred} costs least per item on one CPU thread (timed up to {TIMING_LIMIT})"
    )
    choice = choose_runtime(model, onnx_bytes, manifest, run.sample_x, preferred, config)
    say(f"runtime: {choice.runtime} ({choice.reason}; ms per item {choice.ms_per_item})")
    manifest = manifest.model_copy(
        update={
            "preferred_batch_size": preferred,
            "explain": explain,
            "runtime": choice.runtime,
            "runtime_ms_per_item": choice.ms_per_item,
        }
    )
    extras = {explain.file: explain_bytes} if explain is not None and explain_bytes else None
    stored = store.register(manifest, onnx_bytes, extras=extras)
    say(f"registered {stored.ref} in {config.registry}")
    return stored


def explain_for(
    model, run: RunArtifacts, config: ExportConfig, name: str, say: Progress
) -> tuple[ExplainGraph | None, bytes | None]:
    """A classifier's Grad-CAM graph (of the inference twin: no augmentation layers to trace),
    parity-gated like the model; none for other answers, for
    a classifier without a spatial feature map, or when the export was told to skip it."""
    from kiln.export.gradcam import explain_graph
    from kiln.models.gradcam import last_feature_layer

    if not config.explain or SPECS[run.info.task].answer != "label" or not len(run.sample_x):
        return None, None
    try:
        last_feature_layer(model)
    except ValueError as e:
        say(f"no Grad-CAM graph: {e}")
        return None, None
    say(f"Grad-CAM graph: converting and checking it on {len(run.sample_x)} validation items")
    graph, data = explain_graph(
        model,
        list(run.info.input_shape),
        config.opset,
        run.sample_x,
        name=name,
        atol=config.explain_atol,
    )
    say(f"Grad-CAM graph: layer {graph.layer}, heatmaps within {graph.parity.max_abs_diff:.2g}")
    return graph, data


def choose_runtime(model, onnx_bytes: bytes, manifest: Manifest, sample, batch_size: int, config):
    """onnxruntime or OpenVINO (``kiln.export.runtimes``): OpenVINO is held to the same parity
    gate against Keras as the ONNX graph, and a graph it cannot read stays on onnxruntime."""
    from kiln.errors import ParityError
    from kiln.export.parity import check_parity
    from kiln.export.runtimes import OpenVinoSession, RuntimeChoice, select_runtime, time_runtimes

    try:
        openvino = OpenVinoSession(onnx_bytes, manifest.outputs[0].name)
    except RuntimeError as e:  # OpenVINO's error for a graph it cannot read or compile
        return RuntimeChoice("onnxruntime", {}, f"OpenVINO cannot run the graph: {e}")
    timings = time_runtimes(onnx_bytes, openvino, manifest.inputs[0], batch_size)
    try:
        check_parity(model, openvino, sample, name=manifest.name, atol=config.atol)
    except ParityError:
        return select_runtime(timings, openvino_parity=False)
    return select_runtime(timings, openvino_parity=True)


def load_checkpoint(path: Path):
    """Load a ``.keras`` checkpoint for inference (no optimizer state needed)."""
    import keras

    # Kiln's builders register any custom layers they use with Keras' serializer.
    with contextlib.suppress(ImportError):
        import kiln.models.build  # noqa: F401
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as e:
        raise DataError(f"cannot load the checkpoint {path}: {e}") from e


def _export_in_child(config: ExportConfig) -> Manifest:
    """Run the export in a fresh interpreter that cannot see a GPU."""
    command = [sys.executable, "-m", "kiln.export.pipeline", config.model_dump_json()]
    result = subprocess.run(command, env=gpu.child_environment(), capture_output=True, text=True)
    sys.stderr.write(result.stderr)
    lines = result.stdout.strip().splitlines()
    reply = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if result.returncode == 0 and "manifest" in reply:
        return Manifest.model_validate(reply["manifest"])
    # Re-raise the child's Kiln error as the same class, so callers see a ParityError as one.
    error_class = getattr(errors, str(reply.get("error")), KilnError)
    if not (isinstance(error_class, type) and issubclass(error_class, KilnError)):
        error_class = KilnError
    message = reply.get("message") or f"exit status {result.returncode}"
    raise error_class(f"(GPU-free export process) {message}")


def _main(argv: list[str]) -> int:
    config = ExportConfig.model_validate(json.loads(argv[0]))
    try:
        manifest = _export(config, lambda message: print(message, file=sys.stderr))
    except KilnError as e:
        print(json.dumps({"error": type(e).__name__, "message": e.message}))
        return 2
    print(json.dumps({"manifest": manifest.model_dump(mode="json")}))
    return 0


if __name__ == "__main__":
    gpu.hide_gpus()
    sys.exit(_main(sys.argv[1:]))
