"""The ModelDeployment's batching limits are the ones the Serve application accepts, so a spec
the API server admits never fails later in the replica's config validation."""

from __future__ import annotations

from kiln.serving.config import Batching as ServeBatching
from kiln_operator.spec import Batching as SpecBatching


def bounds(model, field):
    metadata = model.model_fields[field].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


def test_spec_batching_bounds_equal_the_serving_bounds():
    for field in ("max_batch_size", "batch_wait_timeout_s"):
        assert bounds(SpecBatching, field) == bounds(ServeBatching, field), field
