"""Every resource in infra/examples/ is accepted by the API server (our CRDs on 1.20) and by
the operator, which renders its KubeRay child. The examples cannot rot unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import wait_for

pytestmark = pytest.mark.k8s

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "infra" / "examples").glob("*.yaml"))
CHILD = {"TrainingJob": "rayjobs", "ModelDeployment": "rayservices"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_accepted_and_reconciled(kube, operator, namespace, path):
    docs = list(yaml.safe_load_all(path.read_text()))
    assert {doc["kind"] for doc in docs} == set(CHILD), "one TrainingJob and one ModelDeployment"
    for doc in docs:
        plural = doc["kind"].lower() + "s"
        kube.custom.create_namespaced_custom_object("kiln.dev", "v1alpha1", namespace, plural, doc)
    for doc in docs:
        name, plural = doc["metadata"]["name"], doc["kind"].lower() + "s"

        def accepted(name: str = name, plural: str = plural) -> dict | None:
            found = kube.custom.get_namespaced_custom_object(
                "kiln.dev", "v1alpha1", namespace, plural, name
            )
            conditions = {c["type"]: c for c in (found.get("status") or {}).get("conditions", [])}
            return conditions.get("Accepted")

        condition = wait_for(accepted, f"{doc['kind']} {name} to be handled")
        assert condition["status"] == "True", condition["message"]
        child = kube.custom.get_namespaced_custom_object(
            "ray.io", "v1", namespace, CHILD[doc["kind"]], name
        )
        assert child["metadata"]["ownerReferences"][0]["name"] == name
