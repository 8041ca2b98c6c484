"""`kiln tune` refuses bad input with one clear line before Ray starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kiln.cli import cli


@pytest.mark.parametrize(
    ("extra", "space", "message"),
    [
        ([], "models:\n  lstm:\n    unitz: 8\n", "lstm has no hyperparameter(s) unitz"),
        ([], "models:\n  lstm:\n    learning_rate: {low: 0.1, high: 0.01}\n", "inverted range"),
        ([], "models:\n  lstm:\n    units: {values: []}\n", "empty choice"),
        (["--max-epochs", "1"], None, "no epoch to stop a trial at"),
        (["--time-budget", "soon"], None, "not a duration"),
        (["--metric", "val_accuracy"], None, "unknown metric"),
    ],
)
def test_bad_searches_fail_fast_with_the_reason(tmp_path, extra, space, message):
    args = ["tune", "--task", "forecasting", "--model", "lstm", "--data", str(tmp_path)]
    if space is not None:
        (tmp_path / "space.yaml").write_text(space)
        args += ["--space", str(tmp_path / "space.yaml")]
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_an_inline_json_space_is_read_like_a_file(tmp_path):
    args = ["tune", "--task", "forecasting", "--model", "lstm", "--data", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--space", '{"models": {"lstm": {"unitz": 8}}}'])
    assert result.exit_code == 2 and "has no hyperparameter(s) unitz" in result.output


def test_resume_needs_a_search_directory(tmp_path):
    result = CliRunner().invoke(cli, ["tune", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "not a search directory" in result.output
