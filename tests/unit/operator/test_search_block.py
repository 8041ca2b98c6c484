"""A TrainingJob with a ``search:`` block: its CRD schema (both copies) accepts it, the spec
checks the search as `kiln tune` would, and the rendered RayJob (valid against KubeRay's CRD)
runs `kiln tune` and exports the best trial."""

from __future__ import annotations

import json
import shlex

import jsonschema
import pytest
import yaml
from tests.conftest import ROOT

from kiln.errors import ConfigError
from kiln_operator import CRD_DIR, render
from kiln_operator.settings import OperatorSettings
from kiln_operator.spec import parse_training_job

from .conftest import strict

SETTINGS = OperatorSettings(image="registry.example/kiln-ray:1.2.3")
SEARCH = {
    "trials": 6,
    "maxEpochs": 4,
    "models": ["stacked_gru"],
    "timeBudget": "30m",
    "space": {"lstm": {"units": {"values": [8, 16]}, "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}},
}  # fmt: skip
JOB = {
    "runsUri": "s3://runs/jobs",
    "task": "forecasting",
    "model": "lstm",
    "data": "s3://data/jena",
    "registry": "s3://reg",
    "workers": 2,
    "search": SEARCH,
}


def trainingjob_schema(crd_dir) -> dict:
    crd = yaml.safe_load((crd_dir / "kiln.dev_trainingjobs.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return strict(version["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize(
    "crd_dir", [CRD_DIR, ROOT / "charts" / "kiln" / "crds"], ids=["operator", "chart"]
)
def test_both_crd_copies_accept_a_search_block_and_refuse_a_misspelt_one(crd_dir):
    schema = trainingjob_schema(crd_dir)
    document = {"apiVersion": "kiln.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "s"}}
    jsonschema.validate({**document, "spec": JOB}, schema)
    with pytest.raises(jsonschema.ValidationError, match="maxEpoch"):
        jsonschema.validate({**document, "spec": {**JOB, "search": {"maxEpoch": 3}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "spec": {**JOB, "search": {"timeBudget": "soon"}}}, schema)


def test_the_rendered_rayjob_runs_kiln_tune_and_exports_the_best_trial(kuberay_validator):
    job = render.render_rayjob("jena-search", "ml", parse_training_job(JOB), SETTINGS)
    kuberay_validator("rayjobs").validate(job)
    tune, export = job["spec"]["entrypoint"].split(" && ")
    words = shlex.split(tune)
    assert words[:2] == ["kiln", "tune"]
    flags = dict(zip(words[2::2], words[3::2], strict=True))
    assert flags["--model"] == "lstm,stacked_gru" and flags["--workers-per-trial"] == "2"
    assert flags["--trials"] == "6" and flags["--max-epochs"] == "4"
    assert flags["--scheduler"] == "asha" and flags["--time-budget"] == "30m"
    # The search lives on the job's runs URI: trials, Tune's state and report, all shared.
    assert flags["--out"] == "s3://runs/jobs" and flags["--search-id"] == "jena-search"
    assert json.loads(flags["--space"]) == {"mode": "narrow", "models": SEARCH["space"]}
    # `kiln export SEARCH` exports the chosen trial's run, read from the search on the bucket.
    assert export == "kiln export s3://runs/jobs/jena-search --registry s3://reg --name lstm"


def test_without_export_the_search_is_the_whole_entrypoint():
    command = render.entrypoint("s", parse_training_job({**JOB, "export": False}), "s3://runs")
    assert command.startswith("kiln tune ") and "&&" not in command


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"models": ["mini_xception"]}, "unknown model 'mini_xception'"),
        ({"scheduler": "hyperband"}, "scheduler"),
        ({"trials": 0}, "trials"),
    ],
)
def test_a_bad_search_is_refused_at_admission_with_the_reason(search, message):
    with pytest.raises(ConfigError, match=message):
        parse_training_job({**JOB, "search": search})
