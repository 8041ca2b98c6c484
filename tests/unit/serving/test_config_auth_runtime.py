"""Serve arguments, bearer auth and onnxruntime choices."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from kiln.config import validate
from kiln.errors import ConfigError, IntegrityError, Unauthorized
from kiln.serving import runtime
from kiln.serving.auth import BearerAuth, load_token
from kiln.serving.config import RuntimeConfig, ServeArgs, TasksRuntimeConfig, deployment_overrides

OPERATOR_ARGS = {
    "registry": "/models",
    "models": {
        "classification": {
            "name": "cats",
            "version": "latest",
            "canary_version": None,
            "canary_percent": 0,
        }
    },
    "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.005},
    "autoscaling": {"min_replicas": 1, "max_replicas": 3},
    "gpus_per_replica": 0,
    "auth_token_env": "KILN_AUTH_TOKEN",
}


def test_accepts_the_args_the_operator_renders():
    args = validate(ServeArgs, OPERATOR_ARGS)
    runtime_config = RuntimeConfig.from_args(args, "classification")
    assert runtime_config.max_batch_size == 16 and runtime_config.version == "latest"
    assert deployment_overrides(args)[0]["name"] == "classification"


def test_several_tasks_share_one_deployment_unless_asked_for_one_each():
    two = {**OPERATOR_ARGS["models"], "forecasting": {"name": "weather", "canary_percent": 0}}
    shared = validate(ServeArgs, {**OPERATOR_ARGS, "models": two})
    [entry] = deployment_overrides(shared)
    assert entry["name"] == "tasks"
    tasks = TasksRuntimeConfig.model_validate(entry["user_config"]).tasks
    assert set(tasks) == {"classification", "forecasting"}
    assert tasks["classification"].max_batch_size == 16
    apart = validate(ServeArgs, {**OPERATOR_ARGS, "models": two, "ingress_deployment": True})
    assert [e["name"] for e in deployment_overrides(apart)] == ["classification", "forecasting"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"models": {"translation": {"name": "x"}}}, "models.translation"),
        ({"models": {"classification": {"name": "x", "canary_percent": 10}}}, "canary_version"),
        ({"autoscaling": {"min_replicas": 3, "max_replicas": 1}}, "min_replicas"),
        ({"batching": {"max_batch_size": 0}}, "max_batch_size"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_refuses_bad_args_naming_the_field(change, words):
    with pytest.raises(ConfigError, match=words):
        validate(ServeArgs, {**OPERATOR_ARGS, **change})


def test_token_file_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_TEST_TOKEN", "from-env")
    assert load_token("KILN_TEST_TOKEN", None) == "from-env"
    token = tmp_path / "token"
    token.write_text("from-file\n")
    assert load_token("KILN_TEST_TOKEN", str(token)) == "from-file"
    with pytest.raises(ConfigError, match="cannot read"):
        load_token(None, str(tmp_path / "missing"))


def test_bearer_auth_compares_the_token():
    auth = BearerAuth("abc")
    auth.check("Bearer abc")
    for header in (None, "abc", "Basic abc", "Bearer abd"):
        with pytest.raises(Unauthorized):
            auth.check(header)
    BearerAuth(None).check(None)  # auth off


def test_cpu_only_machine_asks_for_the_cpu_provider_alone():
    # There is no GPU here; CUDA must not even be requested (it logs errors when it is).
    assert runtime.choose_providers() == [runtime.CPU]


def test_session_options_follow_the_measurements():
    options = runtime.session_options(2)
    assert options.intra_op_num_threads == 2 and not options.enable_cpu_mem_arena
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_a_model_runs_and_a_corrupt_one_is_refused(tiny):
    model = runtime.OnnxModel.build(tiny.manifest("forecasting"), tiny.forecaster(), 1)
    output = model.run(np.zeros((3, 6, 3), dtype=np.float32))
    assert output.shape == (3, 1) and output[0, 0] == pytest.approx(tiny.MEANS[1])
    with pytest.raises(IntegrityError, match="cannot load"):
        runtime.OnnxModel.build(tiny.manifest("forecasting"), b"garbage", 1)


def test_a_model_export_put_on_openvino_loads_there_and_answers_as_onnxruntime(tiny):
    plain = tiny.manifest("segmentation")
    on_openvino = plain.model_copy(update={"runtime": "openvino"})
    reference = runtime.load_model(plain, tiny.segmenter(), 1)
    model = runtime.load_model(on_openvino, tiny.segmenter(), 1)
    assert reference.providers == [runtime.CPU] and model.providers == ["OpenVINO:CPU"]
    assert model.on_cpu and reference.on_cpu
    batches = [np.full((n, 16, 16, 3), 60.0 * n, dtype=np.float32) for n in (1, 3, 2, 4)]
    # Two streams run one model at once in a replica: each thread gets its own infer request.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(model.run, batches * 3))
    for batch, answer in zip(batches * 3, answers, strict=True):
        assert np.allclose(answer, reference.run(batch), atol=1e-5)
    with pytest.raises(IntegrityError, match="OpenVINO cannot load"):
        runtime.load_model(on_openvino, b"garbage", 1)


@pytest.mark.parametrize(
    ("settings", "threads"),
    [
        ({}, 1),  # 0.5 logical CPUs: at least one thread per stream
        ({"cpus_per_replica": 8}, 4),
        ({"cpus_per_replica": 8, "inference_streams": 4}, 2),
        ({"cpus_per_replica": 8, "intra_op_threads": 3}, 3),  # set explicitly: kept
        ({"intra_op_threads": 0}, 0),  # onnxruntime decides
    ],
)
def test_model_streams_share_the_replicas_cpus_unless_threads_are_set(settings, threads):
    args = ServeArgs.model_validate({**OPERATOR_ARGS, **settings})
    assert args.threads_per_stream() == threads
