"""Fixtures for the operator's unit tests: KubeRay's CRD schemas as strict JSON Schemas."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from tests.conftest import FIXTURES

KUBERAY_CRDS = FIXTURES / "kuberay-crds"  # vendored; the README there names the release


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema that refuses unknown fields.

    The API server prunes unknown fields of a structural schema silently, so a misspelt key
    would vanish without an error; refusing them here catches the typo in the unit test.
    """
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@cache
def _kuberay_validator(plural: str) -> Any:
    text = (KUBERAY_CRDS / f"ray.io_{plural}.yaml").read_text()
    crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = strict(v1["schema"]["openAPIV3Schema"])
    # One validator per CRD, built once: jsonschema.validate() would re-check the 1 MB schema
    # itself on every call, which takes a minute on 2 busy cores.
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.fixture(scope="session")
def kuberay_validator():
    """``kuberay_validator("rayjobs").validate(obj)`` checks ``obj`` against the strict
    openAPIV3Schema of KubeRay's v1 RayJob (``rayservices``: RayService)."""
    return _kuberay_validator
