"""A TrainingJob's ``dataOptions:`` block: both CRD copies accept it and refuse a bad value at
admission, the spec refuses it beside a search, and the rendered RayJob passes it to `kiln
train` as flags that parse back, through the CLI's own data flags, into the same options."""

from __future__ import annotations

import shlex

import click
import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from tests.conftest import ROOT

from kiln.commands._data_options import data_flags, data_options
from kiln.data.info import LoadOptions
from kiln.errors import ConfigError
from kiln_operator import CRD_DIR, render
from kiln_operator.settings import OperatorSettings
from kiln_operator.spec import parse_training_job

from .conftest import strict

SETTINGS = OperatorSettings(image="registry.example/kiln-ray:1.2.3")
OPTIONS = {
    "preset": "timeseries_csv",
    "timeColumn": "timestamp",
    "target": "load (kW)",
    "features": ["load (kW)", "pressure (hPa)"],
    "window": "2d",
    "step": "1h",
    "horizon": "24h",
    "gaps": "fill",
    "maxFill": 2,
    "duplicates": "mean",
    "sentinels": [-9999, -1.5],
}
JOB = {
    "task": "forecasting",
    "model": "dense",
    "data": "s3://data/meter",
    "registry": "s3://reg",
    "runsUri": "s3://runs/jobs",
    "dataOptions": OPTIONS,
}
DOCUMENT = {"apiVersion": "kiln.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "m"}}


@pytest.mark.parametrize(
    "crd_dir", [CRD_DIR, ROOT / "charts" / "kiln" / "crds"], ids=["operator", "chart"]
)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"horizon": "soon"}, "soon"),
        ({"gaps": "ignore"}, "ignore"),
        ({"preset": "excel"}, "excel"),
        ({"imageSize": 0}, "0"),
        ({"targetColumn": "x"}, "targetColumn"),  # misspelt: the CLI's name is `target`
    ],
)
def test_both_crd_copies_accept_the_options_and_refuse_a_bad_one(crd_dir, bad, message):
    crd = yaml.safe_load((crd_dir / "kiln.dev_trainingjobs.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    jsonschema.validate({**DOCUMENT, "spec": JOB}, schema)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate({**DOCUMENT, "spec": {**JOB, "dataOptions": bad}}, schema)


def test_the_spec_refuses_the_same_values_and_options_beside_a_search():
    with pytest.raises(ConfigError, match="horizon"):
        parse_training_job({**JOB, "dataOptions": {"horizon": "24 hours"}})
    with pytest.raises(ConfigError, match="does not take data flags yet"):
        parse_training_job({**JOB, "search": {"trials": 2}})


def test_the_rendered_train_command_carries_flags_that_parse_back_to_the_options():
    job = render.render_rayjob("meter", "ml", parse_training_job(JOB), SETTINGS)
    train = shlex.split(job["spec"]["entrypoint"].split(" && ")[0])
    assert train[:2] == ["kiln", "train"] and "--target" in train

    parsed: dict = {}

    @click.command(context_settings={"ignore_unknown_options": True})
    @click.argument("rest", nargs=-1, type=click.UNPROCESSED)
    @data_flags
    def cli(rest, **flags):
        parsed.update(data_options(flags))

    outcome = CliRunner().invoke(cli, train[2:])
    assert outcome.exit_code == 0, outcome.output
    options = LoadOptions(**parsed)
    assert options.target_column == "load (kW)" and options.time_column == "timestamp"
    assert options.features == ["load (kW)", "pressure (hPa)"]
    assert (options.window, options.step, options.horizon) == ("2d", "1h", "24h")
    assert (options.gaps, options.max_fill, options.duplicates) == ("fill", 2, "mean")
    assert options.sentinels == [-9999.0, -1.5] and options.layout == "timeseries_csv"


def test_image_size_reaches_kiln_train_and_no_options_add_no_flags():
    images = {**JOB, "task": "segmentation", "model": "segmentation_convnet"}
    images["dataOptions"] = {"imageSize": 64, "preset": "image_masks"}
    command = render.entrypoint("s", parse_training_job(images), "s3://runs")
    assert "--preset image_masks --image-size 64" in command
    plain = {k: v for k, v in JOB.items() if k != "dataOptions"}
    command = render.entrypoint("p", parse_training_job(plain), "s3://runs")
    assert "--target" not in command and "--preset" not in command
