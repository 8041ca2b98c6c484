"""What the operator and serving share is written once: the ModelDeployment's batching defaults
and limits are the Serve application's, so a spec the API server admits never fails later in
the replica's config validation, and a CR without batching gets serving's own defaults; the
model-name pattern is the registry's."""

from __future__ import annotations

import pytest
import yaml
from pydantic.alias_generators import to_camel

from kiln.config import MODEL_NAME_PATTERN
from kiln.registry.names import NAME_PATTERN
from kiln.serving.config import Batching as ServeBatching
from kiln.serving.config import DriftSettings, RequestLogSettings
from kiln_operator import CRD_DIR
from kiln_operator.spec import Batching as SpecBatching
from kiln_operator.spec import Drift as SpecDrift

from ..test_task_vocabulary import ROOT

CRD_COPIES = [CRD_DIR, ROOT / "charts" / "kiln" / "crds"]


def bounds(model, field):
    metadata = model.model_fields[field].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


def spec_properties(directory, plural):
    crd = yaml.safe_load((directory / f"kiln.dev_{plural}.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def admits_only_what_serving_admits(model, field, prop):
    """The CRD's bounds of a serving field: its ``ge``/``le`` exactly; above a ``gt`` (OpenAPI's
    boolean exclusiveMinimum is not JSON Schema's, so the CRD states a minimum above it)."""
    for item in model.model_fields[field].metadata:
        if getattr(item, "ge", None) is not None:
            assert prop["minimum"] == item.ge, field
        if getattr(item, "gt", None) is not None:
            assert prop["minimum"] > item.gt, field
        if getattr(item, "le", None) is not None:
            assert prop["maximum"] == item.le, field


def test_spec_batching_bounds_and_defaults_equal_the_serving_ones():
    for field in ("max_batch_size", "batch_wait_timeout_s"):
        assert bounds(SpecBatching, field) == bounds(ServeBatching, field), field
    assert SpecBatching().model_dump() == ServeBatching().model_dump()


@pytest.mark.parametrize("directory", CRD_COPIES, ids=["operator", "chart"])
def test_the_crd_batching_defaults_and_bounds_are_servings(directory):
    batching = spec_properties(directory, "modeldeployments")["batching"]["properties"]
    for field, name in (
        ("max_batch_size", "maxBatchSize"),
        ("batch_wait_timeout_s", "batchWaitTimeoutS"),
    ):
        schema = batching[name]
        assert schema["default"] == ServeBatching.model_fields[field].default, name
        assert (schema["minimum"], schema["maximum"]) == bounds(ServeBatching, field), name


@pytest.mark.parametrize("directory", CRD_COPIES, ids=["operator", "chart"])
def test_the_crd_model_name_pattern_is_the_registrys(directory):
    assert NAME_PATTERN.pattern == MODEL_NAME_PATTERN
    deployment = spec_properties(directory, "modeldeployments")["modelName"]
    training = spec_properties(directory, "trainingjobs")["modelName"]
    assert deployment["pattern"] == training["pattern"] == MODEL_NAME_PATTERN


def test_spec_drift_defaults_equal_the_serving_ones():
    assert SpecDrift().model_dump() == DriftSettings().model_dump()


@pytest.mark.parametrize("directory", CRD_COPIES, ids=["operator", "chart"])
def test_the_crd_drift_and_request_log_fields_defaults_and_bounds_are_servings(directory):
    drift = spec_properties(directory, "modeldeployments")["drift"]["properties"]
    for model, schema in (
        (DriftSettings, drift),
        (RequestLogSettings, drift["requestLog"]["properties"]),
    ):
        assert set(schema) == {to_camel(field) for field in model.model_fields}, model.__name__
        for field, info in model.model_fields.items():
            if field == "request_log":
                continue  # the nested object, checked as the second model
            prop = schema[to_camel(field)]
            default = info.get_default(call_default_factory=True)
            if default is not None:
                assert prop["default"] == default, field
            admits_only_what_serving_admits(model, field, prop)
