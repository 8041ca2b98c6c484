"""The operator end to end against a real kube-apiserver 1.20 and controller-manager, with
KubeRay's CRDs installed. The operator runs under its minimal RBAC (operators/kiln_operator/
rbac.yaml). KubeRay's own operator cannot run here (no kubelet, so no pods): where KubeRay would
report progress, the test writes the RayJob/RayService status the way KubeRay does."""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from kiln_operator import render
from kiln_operator.kube import is_subset
from kiln_operator.settings import OperatorSettings
from kiln_operator.spec import parse_model_deployment, parse_training_job

from .conftest import wait_for

pytestmark = pytest.mark.k8s

KILN = ("kiln.dev", "v1alpha1")
RAY = ("ray.io", "v1")
# The session's operator has no runs URI default (tests/k8s/test_storage.py relies on that).
JOB_SPEC = {"task": "forecasting", "model": "lstm", "data": "/data/jena", "epochs": 3,
            "runsUri": "s3://kiln-test/runs"}  # fmt: skip
SERVE_SPEC = {"task": "classification", "modelName": "cats", "version": 1, "registry": "/r"}


def create(kube, namespace, kind, name, spec):
    body = {"apiVersion": "/".join(KILN), "kind": kind, "metadata": {"name": name}, "spec": spec}
    return kube.custom.create_namespaced_custom_object(*KILN, namespace, f"{kind.lower()}s", body)


def get(kube, group_version, plural, namespace, name):
    try:
        return kube.custom.get_namespaced_custom_object(*group_version, namespace, plural, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def set_status(kube, plural, namespace, name, status):
    """Write a child's status as KubeRay's operator would (through the status subresource)."""
    kube.custom.patch_namespaced_custom_object_status(
        *RAY, namespace, plural, name, {"status": status}
    )


def owner_status(kube, plural, namespace, name):
    return (get(kube, KILN, plural, namespace, name) or {}).get("status") or {}


def events(kube, namespace, name):
    listed = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return [(e.type, e.reason, e.message) for e in listed.items]


def warnings(kube, namespace, name, reason):
    return [e for e in events(kube, namespace, name) if e[:2] == ("Warning", reason)]


def wait_phase(kube, plural, namespace, name, phase, timeout=30.0):
    """Wait until the Kiln object's status has ``phase``; return that status."""

    def status():
        found = owner_status(kube, plural, namespace, name)
        return found if found.get("phase") == phase else None

    return wait_for(status, f"{name} to reach phase {phase}", timeout)


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_training_job_becomes_a_rayjob_with_the_rendered_spec(kube, operator, namespace, tmp_path):
    spec = {**JOB_SPEC, "registry": str(tmp_path / "registry")}
    owner = create(kube, namespace, "TrainingJob", "jena", spec)
    rayjob = wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "jena"), "the RayJob")
    settings = OperatorSettings(image="kiln-ray:test")
    wanted = render.render_rayjob("jena", namespace, parse_training_job(spec), settings)
    assert is_subset(wanted["spec"], rayjob["spec"])  # plus the server's defaults
    assert rayjob["spec"]["entrypoint"].startswith("kiln train --task forecasting --model lstm")
    (ref,) = rayjob["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "TrainingJob", "jena", owner["metadata"]["uid"], True
    )  # fmt: skip

    def accepted():
        found = owner_status(kube, "trainingjobs", namespace, "jena")
        return found if any(c["type"] == "Accepted" for c in found.get("conditions", [])) else None

    status = wait_for(accepted, "the Accepted condition")
    assert (status["phase"], status["rayJobName"]) == ("Pending", "jena")
    assert {"type": "Accepted", "status": "True"}.items() <= status["conditions"][0].items()


def test_training_job_phase_follows_the_rayjob_and_records_the_version(
    kube, operator, namespace, tmp_path, registered
):
    registry = str(tmp_path / "registry")
    create(
        kube,
        namespace,
        "TrainingJob",
        "jena",
        {**JOB_SPEC, "registry": registry, "modelName": "jena"},
    )
    wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "jena"), "the RayJob")

    set_status(kube, "rayjobs", namespace, "jena",
               {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})  # fmt: skip
    wait_phase(kube, "trainingjobs", namespace, "jena", "Running")

    # What `kiln export` does at the end of the entrypoint: register a version from this run.
    version = registered(registry, "jena", "jena")
    set_status(kube, "rayjobs", namespace, "jena",
               {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})  # fmt: skip
    status = wait_phase(kube, "trainingjobs", namespace, "jena", "Succeeded")
    assert (status["modelName"], status["modelVersion"]) == ("jena", version)
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Complete"] == "True" and conditions["ModelRegistered"] == "True"
    wait_for(lambda: ("Normal", "Succeeded") in [e[:2] for e in events(kube, namespace, "jena")],
             "a Succeeded Event")  # fmt: skip


def test_a_failed_rayjob_fails_the_training_job_with_kuberays_reason(kube, operator, namespace):
    create(kube, namespace, "TrainingJob", "late", {**JOB_SPEC, "registry": "/r"})
    wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "late"), "the RayJob")
    set_status(kube, "rayjobs", namespace, "late",
               {"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded",
                "message": "activeDeadlineSeconds passed"})  # fmt: skip
    status = wait_phase(kube, "trainingjobs", namespace, "late", "Failed")
    assert status["message"] == "DeadlineExceeded: activeDeadlineSeconds passed"
    found = wait_for(lambda: warnings(kube, namespace, "late", "Failed"), "a Failed Event")
    assert "DeadlineExceeded" in found[0][2]


def test_model_deployment_becomes_a_rayservice_running_build_app(kube, operator, namespace):
    create(kube, namespace, "ModelDeployment", "cats", SERVE_SPEC)
    service = wait_for(lambda: get(kube, RAY, "rayservices", namespace, "cats"), "the RayService")
    wanted = render.serve_config(parse_model_deployment(SERVE_SPEC))
    assert service["spec"]["serveConfigV2"] == wanted
    assert "import_path: kiln.serving.app:build_app" in wanted
    wait_phase(kube, "modeldeployments", namespace, "cats", "Deploying")

    # KubeRay reports the Serve application running on the active cluster.
    set_status(kube, "rayservices", namespace, "cats", {
        "observedGeneration": service["metadata"]["generation"],
        "conditions": [{"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints",
                        "message": "Serve endpoints are ready", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "numServeEndpoints": 1,
        "activeServiceStatus": {"applicationStatuses": {"kiln": {"status": "RUNNING"}},
                                "rayClusterStatus": {"readyWorkerReplicas": 1}},
    })  # fmt: skip
    status = wait_phase(kube, "modeldeployments", namespace, "cats", "Ready")
    assert (status["servingVersion"], status["readyReplicas"]) == ("1", 1)
    assert status["url"] == f"http://cats-serve-svc.{namespace}.svc:8000"


def test_a_version_change_patches_the_rayservice_instead_of_recreating_it(
    kube, operator, namespace
):
    create(kube, namespace, "ModelDeployment", "cats", SERVE_SPEC)
    before = wait_for(lambda: get(kube, RAY, "rayservices", namespace, "cats"), "the RayService")
    kube.custom.patch_namespaced_custom_object(
        *KILN, namespace, "modeldeployments", "cats",
        {"spec": {"version": 2, "canary": {"version": 3, "percent": 20}}},
    )  # fmt: skip
    after = wait_for(
        lambda: (
            (s := get(kube, RAY, "rayservices", namespace, "cats"))
            and "canary_version: 3" in s["spec"]["serveConfigV2"]
            and s
        ),
        "the patched serveConfigV2",
    )
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    assert after["spec"]["rayClusterConfig"] == before["spec"]["rayClusterConfig"]
    # Serve restarts replicas when an application's args change; only user_config may move.
    (old,) = yaml.safe_load(before["spec"]["serveConfigV2"])["applications"]
    (new,) = yaml.safe_load(after["spec"]["serveConfigV2"])["applications"]
    assert new["args"] == old["args"]
    assert old["deployments"][0]["user_config"]["version"] == 1
    assert new["deployments"][0]["user_config"] == {
        **old["deployments"][0]["user_config"],
        "version": 2,
        "canary_version": 3,
        "canary_percent": 20.0,
    }


def test_deleting_the_owner_garbage_collects_the_child(kube, operator, namespace):
    create(kube, namespace, "TrainingJob", "gone", {**JOB_SPEC, "registry": "/r"})
    create(kube, namespace, "ModelDeployment", "gone", SERVE_SPEC)
    wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "gone"), "the RayJob")
    wait_for(lambda: get(kube, RAY, "rayservices", namespace, "gone"), "the RayService")
    kube.custom.delete_namespaced_custom_object(*KILN, namespace, "trainingjobs", "gone")
    kube.custom.delete_namespaced_custom_object(*KILN, namespace, "modeldeployments", "gone")
    # The controller-manager's garbage collector, not the operator, deletes the children.
    wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "gone") is None, "RayJob GC", 60)
    wait_for(lambda: get(kube, RAY, "rayservices", namespace, "gone") is None, "RayService GC", 60)


def test_a_bad_spec_is_reported_once_and_the_operator_keeps_serving(kube, operator, namespace):
    # Passes the CRD schema but names a model of another task: only the operator can tell.
    create(kube, namespace, "TrainingJob", "bad", {**JOB_SPEC, "model": "mini_xception",
                                                   "registry": "/r"})  # fmt: skip
    status = wait_phase(kube, "trainingjobs", namespace, "bad", "Invalid")
    (accepted,) = status["conditions"]
    assert (accepted["type"], accepted["status"], accepted["reason"]) == (
        "Accepted", "False", "InvalidSpec"
    )  # fmt: skip
    assert "unknown model 'mini_xception' for task 'forecasting'" in accepted["message"]
    found = wait_for(
        lambda: warnings(kube, namespace, "bad", "InvalidSpec"), "an InvalidSpec Event"
    )
    assert "expected one of dense, conv1d, lstm" in found[0][2]

    # The operator goes on: a good object created afterwards is reconciled.
    create(kube, namespace, "TrainingJob", "good", {**JOB_SPEC, "registry": "/r"})
    wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "good"), "the good RayJob")
    assert get(kube, RAY, "rayjobs", namespace, "bad") is None
    # Not retried in a loop: still exactly one InvalidSpec Event after the good one was handled.
    assert len(warnings(kube, namespace, "bad", "InvalidSpec")) == 1


def test_the_server_refuses_a_spec_the_crd_schema_forbids(kube, namespace):
    with pytest.raises(ApiException) as refused:
        create(kube, namespace, "TrainingJob", "zero", {**JOB_SPEC, "registry": "/r", "epochs": 0})
    assert refused.value.status == 422 and "spec.epochs" in refused.value.body


def test_operator_serves_metrics_and_liveness(kube, operator, namespace):
    create(kube, namespace, "TrainingJob", "counted", {**JOB_SPEC, "registry": "/r"})
    wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "counted"), "the RayJob")
    text = wait_for(
        lambda: (
            (t := scrape(operator.metrics_url))
            and 'kiln_operator_reconciliations_total{kind="TrainingJob",result="success"}' in t
            and 'kiln_operator_objects{kind="TrainingJob",phase="Pending"}' in t
            and t
        ),
        "the reconciliation counter",
    )
    assert 'kiln_operator_reconcile_duration_seconds_bucket{kind="TrainingJob"' in text
    # kopf's probe endpoint answers 200 with each probe's result, cached for 10 s.
    probe = lambda: json.loads(scrape(operator.liveness_url))["objects"] >= 1  # noqa: E731
    wait_for(probe, "the liveness probe to count the object", timeout=30)


def test_applying_the_same_rendering_twice_changes_nothing(kube, namespace):
    """Idempotency of the apply step the handlers use, without kopf in between."""
    from kiln_operator import kube as client_module  # with the admin client, not the operator's

    spec = parse_training_job({**JOB_SPEC, "registry": "/r"})
    child = render.render_rayjob("twice", namespace, spec, OperatorSettings())
    first, created = client_module.apply(child, kube.api_client)
    second, again = client_module.apply(child, kube.api_client)
    assert (created, again) == ("created", "unchanged")
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    changed = render.render_rayjob("twice", namespace, spec.model_copy(update={"epochs": 9}),
                                   OperatorSettings())  # fmt: skip
    third, patched = client_module.apply(changed, kube.api_client)
    assert patched == "patched" and "--epochs 9" in third["spec"]["entrypoint"]
    assert third["metadata"]["uid"] == first["metadata"]["uid"]


def test_a_child_name_taken_by_someone_else_is_reported_not_overwritten(kube, operator, namespace):
    spec = parse_training_job({**JOB_SPEC, "registry": "/r"})
    foreign = render.render_rayjob("taken", namespace, spec, OperatorSettings())
    foreign["spec"]["entrypoint"] = "echo not kiln"
    kube.custom.create_namespaced_custom_object(*RAY, namespace, "rayjobs", foreign)
    create(kube, namespace, "TrainingJob", "taken", {**JOB_SPEC, "registry": "/r"})
    status = wait_phase(kube, "trainingjobs", namespace, "taken", "Invalid")
    (accepted,) = status["conditions"]
    assert (accepted["status"], accepted["reason"]) == ("False", "NotOwned")
    assert "already exists and is not owned" in accepted["message"]
    assert get(kube, RAY, "rayjobs", namespace, "taken")["spec"]["entrypoint"] == "echo not kiln"
