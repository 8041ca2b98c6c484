"""What the operator and serving share is written once: the ModelDeployment's batching defaults
and limits are the Serve application's, so a spec the API server admits never fails later in
the replica's config validation, and a CR without batching gets serving's own defaults; the
model-name pattern is the registry's."""

from __future__ import annotations

import pytest
import yaml

from kiln.config import MODEL_NAME_PATTERN
from kiln.registry.names import NAME_PATTERN
from kiln.serving.config import Batching as ServeBatching
from kiln_operator import CRD_DIR
from kiln_operator.spec import Batching as SpecBatching

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
