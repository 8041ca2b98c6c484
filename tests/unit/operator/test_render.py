"""render(): TrainingJob → RayJob and ModelDeployment → RayService, checked against KubeRay's
own CRD schemas (jsonschema, unknown fields refused) and core pieces against
kubernetes-validate --strict."""

from __future__ import annotations

import itertools
import shlex

import kubernetes_validate
import pytest
import yaml

from kiln.models.catalog import ARCHITECTURES
from kiln_operator import render
from kiln_operator.settings import OperatorSettings
from kiln_operator.spec import parse_model_deployment, parse_training_job

RUNS = "s3://runs-bucket/kiln/runs"
# kiln.serving.config.DriftSettings' defaults, as every user_config carries them.
DEFAULT_DRIFT = {
    "enabled": True,
    "window": 2000,
    "request_log": {"sample_rate": 0.0, "uri": None, "raw": False,
                    "max_bytes": 4 * 1024 * 1024, "max_age_s": 60.0},
}  # fmt: skip
SETTINGS = OperatorSettings(image="registry.example/kiln-ray:1.2.3", runs_uri=RUNS)
STORAGE = OperatorSettings(
    runs_uri=RUNS, storage_secret="s3-creds", storage_endpoint_url="http://minio.storage:9000"
)
# The chart's Ray defaults (values.yaml "ray:"), each way round: auth off, Serve's proxy settings
# off, GCS fault tolerance with and without a password; and its storage defaults.
SETTINGS_CASES = {
    "defaults": SETTINGS,
    "no-auth-no-serve-env": OperatorSettings(
        ray_auth_mode="disabled",
        serve_ha_proxy=False,
        serve_throughput_optimized=False,
        runs_uri=RUNS,
    ),
    "gcs-ft": OperatorSettings(gcs_redis_address="redis.ml.svc:6379", runs_uri=RUNS),
    "gcs-ft-password": OperatorSettings(
        gcs_redis_address="redis.ml.svc:6379",
        gcs_redis_password_secret="redis-auth",
        runs_uri=RUNS,
    ),
    "storage": STORAGE,
    "storage-gcs": OperatorSettings(runs_uri="gs://runs-bucket/runs", storage_secret="gcs-key"),
}
K8S_VERSIONS = ("1.25", "1.33")


def training(**overrides):
    spec = {
        "task": "forecasting",
        "model": "lstm",
        "data": "s3://data/jena",
        "registry": "s3://reg",
    }
    return parse_training_job({**spec, **overrides})


def deployment(**overrides):
    spec = {"task": "classification", "modelName": "pets-xception", "registry": "s3://reg"}
    return parse_model_deployment({**spec, **overrides})


# Every architecture, with and without GPUs and export, with and without a time limit.
TRAINING_CASES = [
    {"task": arch.task, "model": name, "gpusPerWorker": gpus, "export": export, **limit}
    for (name, arch), gpus, export, limit in itertools.product(
        ARCHITECTURES.items(), (0, 2), (True, False), ({}, {"timeLimitSeconds": 7200})
    )
]
DEPLOYMENT_CASES = [
    {},
    {"version": 3, "canary": {"version": 4, "percent": 25}},
    {"replicas": {"min": 0, "max": 4}, "gpusPerReplica": 0.5, "authSecretRef": {"name": "tok"}},
    {"task": "segmentation", "batching": {"maxBatchSize": 64, "batchWaitTimeoutS": 0.05}},
]


@pytest.mark.parametrize("settings", SETTINGS_CASES.values(), ids=SETTINGS_CASES.keys())
@pytest.mark.parametrize("case", TRAINING_CASES, ids=lambda c: f"{c['model']}-{c['gpusPerWorker']}")
def test_every_rendered_rayjob_satisfies_kuberays_schema(case, settings, kuberay_validator):
    job = render.render_rayjob("run-1", "ml", training(**case), settings)
    kuberay_validator("rayjobs").validate(job)


@pytest.mark.parametrize("settings", SETTINGS_CASES.values(), ids=SETTINGS_CASES.keys())
@pytest.mark.parametrize("case", DEPLOYMENT_CASES)
def test_every_rendered_rayservice_satisfies_kuberays_schema(case, settings, kuberay_validator):
    service = render.render_rayservice("serve-1", "ml", deployment(**case), settings)
    kuberay_validator("rayservices").validate(service)


def _containers(cluster):
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [g["template"]["spec"]["containers"][0] for g in groups]


def _env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_the_ray_auth_mode_setting_reaches_rayjobs_and_rayservices():
    for mode in ("token", "disabled"):
        settings = OperatorSettings(ray_auth_mode=mode, runs_uri=RUNS)
        job = render.render_rayjob("r", "ml", training(), settings)["spec"]
        service = render.render_rayservice("s", "ml", deployment(), settings)["spec"]
        assert job["rayClusterSpec"]["authOptions"] == {"mode": mode}
        assert service["rayClusterConfig"]["authOptions"] == {"mode": mode}


def test_serve_proxy_settings_are_env_on_every_rayservice_container_and_not_on_rayjobs():
    on = render.render_rayservice("s", "ml", deployment(authSecretRef={"name": "t"}), SETTINGS)
    for container in _containers(on["spec"]["rayClusterConfig"]):
        env = _env(container)
        assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
        assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
        assert env["KILN_AUTH_TOKEN"] == {"secretKeyRef": {"name": "t", "key": "token"}}
    only_haproxy = OperatorSettings(serve_throughput_optimized=False)
    service = render.render_rayservice("s", "ml", deployment(), only_haproxy)
    for container in _containers(service["spec"]["rayClusterConfig"]):
        assert _env(container) == {"RAY_SERVE_ENABLE_HA_PROXY": "1"}
    off = OperatorSettings(serve_ha_proxy=False, serve_throughput_optimized=False)
    service = render.render_rayservice("s", "ml", deployment(), off)
    assert all("env" not in c for c in _containers(service["spec"]["rayClusterConfig"]))
    job = render.render_rayjob("r", "ml", training(), SETTINGS)
    assert all("env" not in c for c in _containers(job["spec"]["rayClusterSpec"]))


def test_gcs_fault_tolerance_is_rendered_only_with_a_redis_address():
    plain = render.render_rayservice("s", "ml", deployment(), SETTINGS)["spec"]
    assert "gcsFaultToleranceOptions" not in plain["rayClusterConfig"]
    ft = render.render_rayservice("s", "ml", deployment(), SETTINGS_CASES["gcs-ft"])["spec"]
    assert ft["rayClusterConfig"]["gcsFaultToleranceOptions"] == {
        "redisAddress": "redis.ml.svc:6379"
    }
    settings = SETTINGS_CASES["gcs-ft-password"]
    ft = render.render_rayservice("s", "ml", deployment(), settings)["spec"]
    assert ft["rayClusterConfig"]["gcsFaultToleranceOptions"] == {
        "redisAddress": "redis.ml.svc:6379",
        "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}},
    }
    # A RayJob's cluster is short-lived; KubeRay's GCS fault tolerance is for RayServices.
    job = render.render_rayjob("r", "ml", training(), settings)["spec"]
    assert "gcsFaultToleranceOptions" not in job["rayClusterSpec"]


def test_schema_check_catches_a_misspelt_field(kuberay_validator):
    job = render.render_rayjob("run-1", "ml", training(), SETTINGS)
    job["spec"]["shutdownAfterJobFinish"] = True  # missing the trailing "es"
    # iter_errors, not validate(): the exception's text would pretty-print the 1 MB schema.
    messages = [error.message for error in kuberay_validator("rayjobs").iter_errors(job)]
    assert any("'shutdownAfterJobFinish' was unexpected" in m for m in messages), messages


@pytest.mark.parametrize("settings", ["defaults", "storage", "storage-gcs"])
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_pod_templates_are_valid_pods_for_kubernetes(version, settings):
    settings = SETTINGS_CASES[settings]
    job = render.render_rayjob("run-1", "ml", training(gpusPerWorker=1), settings)
    service = render.render_rayservice("s", "ml", deployment(authSecretRef={"name": "t"}), settings)
    clusters = [job["spec"]["rayClusterSpec"], service["spec"]["rayClusterConfig"]]
    groups = [c["headGroupSpec"] for c in clusters] + [
        g for c in clusters for g in c["workerGroupSpecs"]
    ]
    for group in groups:
        pod = {"apiVersion": "v1", "kind": "Pod", **group["template"]}
        pod["metadata"] = {**pod["metadata"], "name": "p", "namespace": "ml"}
        kubernetes_validate.validate(pod, version, strict=True)


def test_rayjob_entrypoint_trains_then_exports_with_the_specs_settings():
    spec = training(epochs=7, batchSize=64, workers=3, gpusPerWorker=1, maxFailures=2,
                    modelName="jena")  # fmt: skip
    job = render.render_rayjob("jena-run", "ml", spec, SETTINGS)["spec"]
    train, export = job["entrypoint"].split(" && ")
    assert shlex.split(train) == [
        "kiln", "train", "--task", "forecasting", "--model", "lstm",
        "--data", "s3://data/jena", "--epochs", "7", "--batch-size", "64", "--workers", "3",
        "--gpus-per-worker", "1", "--max-failures", "2",
        "--out", RUNS, "--run-id", "jena-run", "--if-exists", "resume",
    ]  # fmt: skip
    assert shlex.split(export) == [
        "kiln", "export", f"{RUNS}/jena-run", "--registry", "s3://reg", "--name", "jena",
    ]  # fmt: skip


def test_entrypoint_quotes_hostile_values_and_skips_export_when_off():
    spec = training(data="/data/my jena; rm -rf /", export=False)
    command = render.entrypoint("r", spec, RUNS)
    assert "&&" not in command
    assert "'/data/my jena; rm -rf /'" in command
    assert "--gpus-per-worker" not in command and "--max-failures" not in command


def test_rayjob_sizes_workers_and_sets_the_job_policy():
    spec = training(workers=4, cpusPerWorker=6, memoryPerWorker="12Gi", backoffLimit=2,
                    timeLimitSeconds=3600)  # fmt: skip
    job = render.render_rayjob("r", "ml", spec, SETTINGS)["spec"]
    assert job["shutdownAfterJobFinishes"] is True
    assert job["backoffLimit"] == 2
    assert job["activeDeadlineSeconds"] == 3600
    assert job["rayClusterSpec"]["authOptions"] == {"mode": "token"}
    (workers,) = job["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 4
    resources = workers["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "6", "memory": "12Gi"}
    assert "tolerations" not in workers["template"]["spec"]
    assert (
        "activeDeadlineSeconds" not in render.render_rayjob("r", "ml", training(), SETTINGS)["spec"]
    )


def test_gpu_workers_get_gpu_resources_and_tolerations():
    job = render.render_rayjob("r", "ml", training(gpusPerWorker=2), SETTINGS)["spec"]
    worker = job["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert worker["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    head = job["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in head["containers"][0]["resources"]["limits"]


def test_image_comes_from_the_spec_else_the_operator_default():
    default = render.render_rayjob("r", "ml", training(), SETTINGS)
    own = render.render_rayjob("r", "ml", training(image="mine:1"), SETTINGS)
    image = lambda job: job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"][  # noqa: E731
        "containers"
    ][0]["image"]
    assert (image(default), image(own)) == ("registry.example/kiln-ray:1.2.3", "mine:1")


def test_serve_config_names_build_app_with_the_agreed_args():
    spec = deployment(version="3", canary={"version": 5, "percent": 20},
                      replicas={"min": 1, "max": 3}, gpusPerReplica=1,
                      batching={"maxBatchSize": 32, "batchWaitTimeoutS": 0.02},
                      authSecretRef={"name": "kiln-auth", "key": "t"})  # fmt: skip
    service = render.render_rayservice("pets", "ml", spec, SETTINGS)["spec"]
    (app,) = yaml.safe_load(service["serveConfigV2"])["applications"]
    assert app["import_path"] == "kiln.serving.app:build_app"
    # args: only what never changes; versions, canary and batching are not in them.
    assert app["args"] == {
        "registry": "s3://reg",
        "models": {"classification": {"name": "pets-xception"}},
        "autoscaling": {"min_replicas": 1, "max_replicas": 3},
        "gpus_per_replica": 1.0,
        "auth_token_env": "KILN_AUTH_TOKEN",
        "intra_op_threads": 1,  # the default 1-CPU pod shared by two model streams
    }
    assert app["deployments"] == [
        {
            "name": "classification",
            "max_ongoing_requests": 256,
            "autoscaling_config": {"min_replicas": 1, "max_replicas": 3,
                                   "target_ongoing_requests": 32},
            "user_config": {"version": 3, "canary_version": 5, "canary_percent": 20.0,
                            "max_batch_size": 32, "batch_wait_timeout_s": 0.02,
                            "drift": DEFAULT_DRIFT},
        }
    ]  # fmt: skip
    env = service["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "KILN_AUTH_TOKEN",
                      "valueFrom": {"secretKeyRef": {"name": "kiln-auth", "key": "t"}}}  # fmt: skip
    assert service["rayClusterConfig"]["enableInTreeAutoscaling"] is True


def _app(service):
    (app,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    return app


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"version": 1, "canary": {"version": 2, "percent": 10}},
        {"version": 1, "batching": {"maxBatchSize": 64, "batchWaitTimeoutS": 0.05}},
        {"version": "latest"},
        {"version": 1, "drift": {"window": 500, "requestLog": {"sampleRate": 0.05,
                                                                "uri": "s3://logs/pets"}}},
    ],
    ids=["version", "canary", "batching", "latest", "drift"],
)  # fmt: skip
def test_run_time_changes_touch_only_user_config_never_args_or_the_cluster(change):
    # Serve restarts every replica when args change; user_config reaches reconfigure() instead.
    before = render.render_rayservice("pets", "ml", deployment(version=1), SETTINGS)
    after = render.render_rayservice("pets", "ml", deployment(**change), SETTINGS)
    assert _app(before)["args"] == _app(after)["args"]
    (old,), (new,) = _app(before)["deployments"], _app(after)["deployments"]
    assert old["name"] == new["name"] == "classification"
    assert old["user_config"] != new["user_config"]
    assert before["spec"]["rayClusterConfig"] == after["spec"]["rayClusterConfig"]


def test_user_config_carries_the_specs_version_canary_and_batching():
    spec = deployment(version=2, canary={"version": 3, "percent": 10},
                      batching={"maxBatchSize": 4, "batchWaitTimeoutS": 0.0})  # fmt: skip
    (entry,) = _app(render.render_rayservice("pets", "ml", spec, SETTINGS))["deployments"]
    assert entry["user_config"] == {"version": 2, "canary_version": 3, "canary_percent": 10.0,
                                    "max_batch_size": 4, "batch_wait_timeout_s": 0.0,
                                    "drift": DEFAULT_DRIFT}  # fmt: skip
    assert (entry["num_replicas"], entry["max_ongoing_requests"]) == (1, 64)


def test_user_config_carries_the_specs_drift_and_request_log_in_servings_names():
    spec = deployment(drift={"enabled": False, "window": 300,
                             "requestLog": {"sampleRate": 0.25, "uri": "gs://logs/pets/",
                                            "raw": True, "maxBytes": 2048, "maxAgeS": 5}})  # fmt: skip
    (entry,) = _app(render.render_rayservice("pets", "ml", spec, SETTINGS))["deployments"]
    assert entry["user_config"]["drift"] == {
        "enabled": False,
        "window": 300,
        "request_log": {"sample_rate": 0.25, "uri": "gs://logs/pets", "raw": True,
                        "max_bytes": 2048, "max_age_s": 5.0},
    }  # fmt: skip


def test_serve_config_is_accepted_by_the_serving_apps_own_models():
    serving_config = pytest.importorskip("kiln.serving.config")
    spec = deployment(version=2, canary={"version": 3, "percent": 10})
    app = _app(render.render_rayservice("pets", "ml", spec, SETTINGS))
    args = serving_config.ServeArgs.model_validate(app["args"])
    assert args.models["classification"].name == "pets-xception"
    runtime = serving_config.RuntimeConfig.model_validate(app["deployments"][0]["user_config"])
    assert (runtime.version, runtime.canary_version) == (2, 3)
    assert runtime.drift == serving_config.DriftSettings()


def test_render_is_pure():
    spec = deployment(canary={"version": 2})
    assert render.render_rayservice("a", "b", spec, SETTINGS) == render.render_rayservice(
        "a", "b", spec, SETTINGS
    )


@pytest.mark.parametrize(
    ("cpu", "threads"), [("500m", 1), ("1", 1), ("2", 1), ("4", 2), ("9.5", 4)]
)
def test_a_replicas_model_streams_share_its_pods_cpus(cpu, threads):
    spec = deployment(cpusPerReplica=cpu)
    service = render.render_rayservice("pets", "ml", spec, SETTINGS)["spec"]
    (app,) = yaml.safe_load(service["serveConfigV2"])["applications"]
    assert app["args"]["intra_op_threads"] == threads
