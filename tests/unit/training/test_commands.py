"""`kiln train`, `kiln runs` and `kiln submit` at the command line, without a cluster."""

from __future__ import annotations

import json

import ray
from click.testing import CliRunner

from kiln.cli import cli
from kiln.commands.submit import jobs_address, split_own_options
from kiln.runs import RunDir, RunRecord
from kiln.training import TrainConfig


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_train_without_task_model_or_data_says_what_is_missing():
    result = run("train")
    assert result.exit_code == 2
    assert "missing --task, --model, --data" in result.output


def test_train_with_an_unknown_model_fails_before_ray_starts(tmp_path, jena_dir, monkeypatch):
    def no_ray(*args, **kwargs):
        raise AssertionError("a bad config must fail before Ray starts")

    monkeypatch.setattr(ray, "init", no_ray)
    out = tmp_path / "runs"
    result = run(
        "train",
        "--task",
        "forecasting",
        "--model",
        "resnet",
        "--data",
        str(jena_dir),
        "--out",
        str(out),
    )
    assert result.exit_code == 2
    assert "unknown model 'resnet'" in result.output
    assert "lstm" in result.output
    assert not out.exists()


def test_train_with_zero_workers_names_the_field(jena_dir):
    result = run(
        "train",
        "--task",
        "forecasting",
        "--model",
        "dense",
        "--data",
        str(jena_dir),
        "--workers",
        "0",
    )
    assert result.exit_code == 2
    assert "workers" in result.output and "greater than or equal to 1" in result.output


def test_resume_of_a_directory_that_is_not_a_run_fails_cleanly(tmp_path):
    result = run("train", "--resume", str(tmp_path))
    assert result.exit_code == 2
    assert "is not a run directory" in result.output


def record(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        task="forecasting",
        model="lstm",
        status="completed",
        workers=2,
        per_worker_batch_size=32,
        global_batch_size=64,
        epochs_requested=5,
        epochs_trained=5,
        evaluation={"test_mae_celsius": 2.5, "naive_baseline_mae_celsius": 3.0},
        timings={"started": "2026-01-01T00:00:00+00:00"},
    )


def test_runs_list_and_show(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one table row per run, unwrapped
    config = TrainConfig(task="forecasting", model="lstm", data="d", out=str(tmp_path))
    RunDir.create(config.out, "r1", config).write_record(record("r1"))
    listing = run("runs", "list", "--out", str(tmp_path))
    assert listing.exit_code == 0
    assert "r1" in listing.output and "test_mae_celsius 2.5000 (naive 3.0000)" in listing.output
    shown = run("runs", "show", "r1", "--out", str(tmp_path))
    assert shown.exit_code == 0 and "64" in shown.output and "completed" in shown.output
    as_json = run("runs", "show", str(tmp_path / "r1"), "--json")
    assert json.loads(as_json.output)["global_batch_size"] == 64


def test_the_headline_reads_unit_named_old_and_segmentation_figures_with_their_baseline():
    from kiln.commands.runs import headline

    assert headline({"test_mae_kw": 3.5, "naive_baseline_mae_kw": 7.0}) == (
        "test_mae_kw 3.5000 (naive 7.0000)"
    )
    assert headline({"test_mae": 1.0}) == "test_mae 1.0000"
    pixels = {"test_pixel_accuracy": 0.9, "majority_baseline_pixel_accuracy": 0.8}
    assert headline(pixels) == "test_pixel_accuracy 0.9000 (constant mask 0.8000)"


def test_runs_show_of_an_unknown_run_is_not_found(tmp_path):
    result = run("runs", "show", "nope", "--out", str(tmp_path))
    assert result.exit_code == 2 and "no run.json" in result.output


def test_submit_takes_its_own_options_from_after_the_command():
    own, rest = split_own_options(
        ["--task", "forecasting", "--address", "http://head:8265", "--follow", "--epochs=3"]
    )
    assert own == {"address": "http://head:8265", "follow": True}
    assert rest == ["--task", "forecasting", "--epochs=3"]


def test_submit_address_defaults(monkeypatch):
    monkeypatch.delenv("RAY_JOBS_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # a GCS address is not the Jobs API
    assert jobs_address(None) == "http://127.0.0.1:8265"
    assert jobs_address("head:8265") == "http://head:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    assert jobs_address(None) == "http://head:8265"


def test_submit_refuses_commands_that_cannot_run_as_jobs():
    result = run("submit", "--address", "http://127.0.0.1:1", "demo")
    assert result.exit_code == 2 and "cannot submit 'demo'" in result.output


def test_train_on_data_the_loader_refuses_fails_before_ray_and_leaves_no_run(
    tmp_path, jena_dir, monkeypatch
):
    def no_ray(*args, **kwargs):
        raise AssertionError("a dataset the loader refuses must fail before Ray starts")

    monkeypatch.setattr(ray, "init", no_ray)
    out = tmp_path / "runs"
    # 20 days of rows are too few for 5-day windows with a 24 h horizon in all three splits.
    result = run(
        "train", "--task", "forecasting", "--model", "dense", "--data", str(jena_dir),
        "--out", str(out), "--run-id", "short",
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"--data {jena_dir}" in result.output and "too few" in result.output
    assert not (out / "short").exists()
