"""Storage through the real API server: a TrainingJob (and a ModelDeployment) naming a storage
Secret becomes a RayJob (RayService) that carries it, by reference, on its head and workers,
which the server admits under KubeRay's own CRD schema; a TrainingJob with nowhere shared to
put its run is refused with a condition and an Event, and runs once it names a runs URI.

The session's operator (conftest) runs without storage defaults, as a chart installed without
`storage.*` values does; tests/k8s/test_chart_install.py covers the chart's defaults. No pod runs
here (no kubelet), so no Secret is ever resolved: what is checked is what the operator writes.
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from .conftest import wait_for

pytestmark = pytest.mark.k8s

KILN, RAY = ("kiln.dev", "v1alpha1"), ("ray.io", "v1")
AWS_KEYS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
JOB = {
    "task": "forecasting",
    "model": "dense",
    "data": "s3://kiln-data/jena",
    "registry": "s3://kiln-registry",
    "epochs": 1,
    "workers": 2,
}


def create(kube, namespace, kind, name, spec):
    body = {"apiVersion": "/".join(KILN), "kind": kind, "metadata": {"name": name}, "spec": spec}
    kube.custom.create_namespaced_custom_object(*KILN, namespace, f"{kind.lower()}s", body)


def get(kube, group_version, plural, namespace, name):
    try:
        return kube.custom.get_namespaced_custom_object(*group_version, namespace, plural, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def containers(cluster):
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [g["template"]["spec"]["containers"][0] for g in groups]


def secret_refs(container):
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in (e.get("valueFrom") or {})
    }


def test_a_training_jobs_storage_secret_reaches_head_and_workers(kube, operator, namespace):
    spec = {**JOB, "runsUri": "s3://kiln-runs/team-a", "storageSecretRef": {"name": "team-a-s3"}}
    create(kube, namespace, "TrainingJob", "jena", spec)
    rayjob = wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "jena"), "the RayJob")
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert len(cluster["workerGroupSpecs"]) == 1 and cluster["workerGroupSpecs"][0]["replicas"] == 2
    for container in containers(cluster):  # as stored by the server, after its schema check
        refs = secret_refs(container)
        assert sorted(refs) == sorted(AWS_KEYS)
        assert all(ref == {"name": "team-a-s3", "key": key, "optional": True}
                   for key, ref in refs.items())  # fmt: skip
    assert " && kiln export s3://kiln-runs/team-a/jena " in rayjob["spec"]["entrypoint"]
    # The spec holds the Secret's name only: nothing secret went through the API in a Kiln object.
    stored = get(kube, KILN, "trainingjobs", namespace, "jena")
    assert stored["spec"]["storageSecretRef"] == {"name": "team-a-s3"}

    def run_uri():
        return (get(kube, KILN, "trainingjobs", namespace, "jena").get("status") or {}).get(
            "runUri"
        )

    assert wait_for(run_uri, "the run URI in the status") == "s3://kiln-runs/team-a/jena"


def test_a_model_deployments_storage_secret_reaches_the_rayservice(kube, operator, namespace):
    spec = {"task": "forecasting", "modelName": "jena", "registry": "gs://kiln-registry",
            "storageSecretRef": {"name": "gcp-key"}}  # fmt: skip
    create(kube, namespace, "ModelDeployment", "jena", spec)
    service = wait_for(lambda: get(kube, RAY, "rayservices", namespace, "jena"), "the RayService")
    cluster = service["spec"]["rayClusterConfig"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        pod = group["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "storage-credentials"]
        assert volume["secret"]["secretName"] == "gcp-key"
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"].endswith("/gcs-credentials.json")
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "gcp-key"


def test_without_shared_storage_a_training_job_is_refused_until_it_names_some(
    kube, operator, namespace
):
    create(kube, namespace, "TrainingJob", "local", JOB)

    def refused():
        status = (get(kube, KILN, "trainingjobs", namespace, "local") or {}).get("status") or {}
        return status if status.get("phase") == "Invalid" else None

    status = wait_for(refused, "the TrainingJob to be refused")
    (accepted,) = status["conditions"]
    assert (accepted["type"], accepted["status"], accepted["reason"]) == (
        "Accepted", "False", "NoSharedStorage"
    )  # fmt: skip
    assert "2 worker pods" in accepted["message"] and "spec.runsUri" in accepted["message"]

    def event():
        listed = kube.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=local"
        )
        return [e for e in listed.items if (e.type, e.reason) == ("Warning", "NoSharedStorage")]

    wait_for(event, "a NoSharedStorage Event")
    assert get(kube, RAY, "rayjobs", namespace, "local") is None  # nothing on a pod's /tmp

    patch = {"spec": {"runsUri": "s3://kiln-runs/fixed"}}
    kube.custom.patch_namespaced_custom_object(*KILN, namespace, "trainingjobs", "local", patch)
    rayjob = wait_for(lambda: get(kube, RAY, "rayjobs", namespace, "local"), "the RayJob")
    assert "--out s3://kiln-runs/fixed --run-id local" in rayjob["spec"]["entrypoint"]


def test_the_server_refuses_a_runs_uri_on_local_disk(kube, namespace):
    with pytest.raises(ApiException) as refused:
        create(kube, namespace, "TrainingJob", "tmp", {**JOB, "runsUri": "/tmp/kiln-runs"})
    assert refused.value.status == 422 and "spec.runsUri" in refused.value.body
