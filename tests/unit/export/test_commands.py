"""`kiln export` and `kiln models list|show|promote` through the real click commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kiln.commands.export import export
from kiln.commands.models import models
from kiln.registry import Manifest, RegistryStore


@pytest.fixture(scope="module")
def cli_registry(segmentation_run, tmp_path_factory):
    """A registry holding two versions exported through the command line."""
    registry = tmp_path_factory.mktemp("cli-registry")
    runner = CliRunner()
    results = [
        runner.invoke(export, [str(segmentation_run), "--registry", str(registry), "--name", "seg"])
        for _ in range(2)
    ]
    return registry, results


def test_export_prints_progress_and_a_summary(cli_registry):
    _, results = cli_registry
    first = results[0]
    assert first.exit_code == 0, first.output
    assert "converting with tf2onnx (opset 17, dynamic batch)" in first.stderr
    assert "exported seg:1 (segmentation, segmentation_convnet)" in first.stdout
    for line in (
        "ops:    ",
        "ConvTranspose×3",
        "parity: max |onnx - keras| =",
        "size:   ",
        "version 1 (latest)",
    ):
        assert line in first.stdout
    assert "version 2 (latest)" in results[1].stdout


def test_export_refusal_exits_2_and_registers_nothing(segmentation_run, tmp_path):
    registry = tmp_path / "registry"
    result = CliRunner().invoke(
        export, [str(segmentation_run), "--registry", str(registry), "--atol", "1e-12"]
    )
    assert result.exit_code == 2
    assert "error: segmentation_convnet: ONNX and Keras outputs differ" in result.stderr
    assert "tolerance 1e-12" in result.stderr
    assert RegistryStore(str(registry)).names() == []


def test_export_of_a_missing_run_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(export, [str(tmp_path / "nope"), "--registry", str(tmp_path)])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_list_shows_the_catalog_with_parameter_counts_and_registered_models(cli_registry):
    registry, _ = cli_registry
    result = CliRunner().invoke(models, ["list", "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    rows = {
        line.split()[1]: line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("segmentation ", "classification ", "forecasting "))
    }
    assert set(rows) >= {"segmentation_convnet", "mini_xception", "lstm", "stacked_gru"}
    # The params column (after the comma-separated layouts) is a real count.
    params = next(cell for cell in rows["lstm"][2:] if cell.replace(",", "").isdigit())
    assert int(params.replace(",", "")) > 0
    registered = [line for line in result.stdout.splitlines() if line.startswith("seg ")]
    assert [line.split()[1] for line in registered] == ["1", "2"]
    assert (
        "(latest)" in registered[1]
        and "seg-run" in registered[1]
        and "accuracy=0.61" in registered[1]
    )


def test_list_on_an_empty_registry_says_how_to_add_one(tmp_path):
    result = CliRunner().invoke(models, ["list", "--no-params", "--registry", str(tmp_path)])
    assert result.exit_code == 0
    assert "No models registered" in result.stdout and "kiln export RUN_DIR" in result.stdout


def test_show_prints_manifest_ops_and_parity(cli_registry):
    registry, _ = cli_registry
    result = CliRunner().invoke(models, ["show", "seg:1", "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("seg:1  (segmentation, segmentation_convnet)")
    assert "ConvTranspose×3" in result.stdout and "parity       max abs diff" in result.stdout
    assert "class_names=['foreground', 'background', 'outline']" in result.stdout
    as_json = CliRunner().invoke(models, ["show", "seg", "--json", "--registry", str(registry)])
    assert Manifest.model_validate(json.loads(as_json.stdout)).version == 2


def test_promote_moves_latest_and_keeps_versions(cli_registry):
    registry, _ = cli_registry
    result = CliRunner().invoke(
        models, ["promote", "seg:1", "--as", "latest", "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    assert "seg:latest now points at version 1 (was 2)" in result.stdout
    store = RegistryStore(str(registry))
    assert store.latest_version("seg") == 1 and store.versions("seg") == [1, 2]
    store.promote("seg", 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "seg", "--as", "latest"], "needs NAME:VERSION"),
        (["promote", "seg:9", "--as", "latest"], "no version 9"),
        (["show", "ghost"], "'ghost' is not in the registry"),
    ],
)
def test_bad_references_are_clear_errors(cli_registry, args, message):
    registry, _ = cli_registry
    result = CliRunner().invoke(models, [*args, "--registry", str(registry)])
    assert result.exit_code == 2 and message in result.stderr
