"""Operator metrics on a fresh prometheus-client registry, read back as Prometheus would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from kiln_operator.metrics import OperatorMetrics


@pytest.fixture
def metrics():
    return OperatorMetrics(CollectorRegistry())


def value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def test_results_and_errors_are_counted_by_kind(metrics):
    metrics.result("TrainingJob", "success")
    metrics.result("TrainingJob", "success")
    metrics.result("TrainingJob", "invalid", "InvalidSpec")
    metrics.result("ModelDeployment", "error", "Retryable")
    total = "kiln_operator_reconciliations_total"
    assert value(metrics, total, kind="TrainingJob", result="success") == 2
    assert value(metrics, total, kind="TrainingJob", result="invalid") == 1
    errors = "kiln_operator_reconcile_errors_total"
    assert value(metrics, errors, kind="TrainingJob", reason="InvalidSpec") == 1
    assert value(metrics, errors, kind="ModelDeployment", reason="Retryable") == 1


def test_durations_are_observed_even_when_the_work_fails(metrics):
    with pytest.raises(RuntimeError), metrics.reconciling("TrainingJob"):
        raise RuntimeError("boom")
    with metrics.reconciling("TrainingJob"):
        pass
    count = "kiln_operator_reconcile_duration_seconds_count"
    assert value(metrics, count, kind="TrainingJob") == 2


def test_objects_by_phase_follow_updates_and_deletions(metrics):
    metrics.objects.set("TrainingJob", "a", "one", "Running")
    metrics.objects.set("TrainingJob", "a", "two", "Running")
    metrics.objects.set("TrainingJob", "b", "one", "Failed")
    metrics.objects.set("TrainingJob", "a", "two", "Succeeded")
    gauge = "kiln_operator_objects"
    assert value(metrics, gauge, kind="TrainingJob", phase="Running") == 1
    assert value(metrics, gauge, kind="TrainingJob", phase="Succeeded") == 1
    metrics.objects.forget("TrainingJob", "a", "one")
    assert value(metrics, gauge, kind="TrainingJob", phase="Running") is None


def test_objects_count_is_what_the_liveness_probe_reports(metrics):
    metrics.objects.set("ModelDeployment", "a", "one", "Ready")
    metrics.objects.set("TrainingJob", "a", "one", "Running")
    assert metrics.objects.count() == 2
