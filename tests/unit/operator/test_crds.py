"""The CRDs: valid apiextensions.k8s.io/v1 objects for Kubernetes 1.25 and 1.33
(kubernetes-validate --strict; 1.20 is checked by installing them, in tests/k8s), structural,
in step with the spec models, and accepting the examples in infra/examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic.alias_generators import to_camel

from kiln.tasks import TASKS
from kiln_operator import CRD_DIR
from kiln_operator.spec import (
    ModelDeploymentSpec,
    TrainingJobSpec,
    parse_model_deployment,
    parse_training_job,
)

from .conftest import strict

EXAMPLES = Path(__file__).resolve().parents[3] / "infra" / "examples"
CRDS = {path.name: yaml.safe_load(path.read_text()) for path in sorted(CRD_DIR.glob("*.yaml"))}
KINDS = {crd["spec"]["names"]["kind"]: crd for crd in CRDS.values()}
MODELS = {"TrainingJob": TrainingJobSpec, "ModelDeployment": ModelDeploymentSpec}
PARSE = {"TrainingJob": parse_training_job, "ModelDeployment": parse_model_deployment}


def schema_of(kind: str) -> dict[str, Any]:
    (version,) = KINDS[kind]["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def examples() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]


def test_there_is_one_crd_per_kind():
    assert set(KINDS) == {"TrainingJob", "ModelDeployment"}


@pytest.mark.parametrize("version", ["1.25", "1.33"])
@pytest.mark.parametrize("name", list(CRDS))
def test_crd_is_a_valid_kubernetes_object(name, version):
    kubernetes_validate.validate(CRDS[name], version, strict=True)


@pytest.mark.parametrize("kind", list(KINDS))
def test_crd_is_namespaced_with_status_and_the_printer_columns(kind):
    crd = KINDS[kind]
    (version,) = crd["spec"]["versions"]
    assert crd["spec"]["group"] == "kiln.dev" and crd["spec"]["scope"] == "Namespaced"
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase" and columns["Age"] == ".metadata.creationTimestamp"
    assert {"Model", "Version"} <= set(columns)


def walk(schema: dict[str, Any], where: str = ""):
    yield where, schema
    for key, child in (schema.get("properties") or {}).items():
        yield from walk(child, f"{where}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{where}[]")


@pytest.mark.parametrize("kind", list(KINDS))
def test_schema_is_structural_and_defaults_satisfy_their_own_schema(kind):
    for where, node in walk(schema_of(kind)):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{where} has no type"
        if "default" in node:
            jsonschema.validate(node["default"], {k: v for k, v in node.items() if k != "default"})


@pytest.mark.parametrize("kind", list(KINDS))
def test_crd_spec_fields_match_the_spec_model(kind):
    crd_fields = set(schema_of(kind)["properties"]["spec"]["properties"])
    model_fields = {to_camel(name) for name in MODELS[kind].model_fields}
    assert crd_fields == model_fields


def test_the_examples_hold_both_kinds_for_every_task():
    seen = {(doc["kind"], doc["spec"]["task"]) for doc in examples()}
    assert seen == {(kind, task) for kind in KINDS for task in TASKS}


@pytest.mark.parametrize("doc", examples(), ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_every_example_fits_its_crd_schema_and_the_spec_model(doc):
    jsonschema.validate(doc, strict(schema_of(doc["kind"])))
    PARSE[doc["kind"]](doc["spec"])  # raises ConfigError on a model the catalog lacks
