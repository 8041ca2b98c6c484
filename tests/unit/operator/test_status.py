"""KubeRay status → Kiln phase and conditions (pure)."""

from __future__ import annotations

import pytest

from kiln_operator import status


@pytest.mark.parametrize(
    ("rayjob_status", "phase"),
    [
        (None, "Pending"),
        ({"jobDeploymentStatus": "Initializing"}, "Starting"),
        ({"jobDeploymentStatus": "Running", "jobStatus": "PENDING"}, "Running"),
        ({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, "Running"),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, "Succeeded"),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "FAILED"}, "Failed"),
        ({"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded"}, "Failed"),
        ({"jobDeploymentStatus": "ValidationFailed", "message": "bad spec"}, "Failed"),
        ({"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED"}, "Retrying"),
    ],
)
def test_training_phase_follows_the_rayjob(rayjob_status, phase):
    assert status.training_phase(rayjob_status)[0] == phase


def test_a_failure_message_carries_kuberays_reason():
    phase, message = status.training_phase(
        {"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded", "message": "too slow"}
    )
    assert (phase, message) == ("Failed", "DeadlineExceeded: too slow")


def ready_service(**extra):
    return {
        "conditions": [{"type": "Ready", "status": "True", "reason": "x", "message": ""}],
        "numServeEndpoints": 2,
        "activeServiceStatus": {
            "applicationStatuses": {"kiln": {"status": "RUNNING"}},
            "rayClusterStatus": {"readyWorkerReplicas": 3},
        },
        **extra,
    }


def test_deployment_view_of_a_ready_service():
    view = status.deployment_view(ready_service())
    assert view["phase"] == "Ready"
    assert (view["readyReplicas"], view["serveEndpoints"]) == (3, 2)


def test_deployment_view_reports_a_failed_serve_application():
    service = ready_service()
    app = {"status": "DEPLOY_FAILED", "message": "no model jena:9"}
    service["activeServiceStatus"]["applicationStatuses"]["kiln"] = app
    view = status.deployment_view(service)
    assert (view["phase"], view["message"]) == ("Degraded", "no model jena:9")


def test_deployment_view_while_upgrading_and_before_anything():
    upgrading = ready_service()
    upgrading["conditions"].append({"type": "UpgradeInProgress", "status": "True", "message": "m"})
    assert status.deployment_view(upgrading)["phase"] == "Updating"
    assert status.deployment_view(None) == {
        "phase": "Deploying",
        "message": "waiting for the Serve application",
        "readyReplicas": 0,
        "serveEndpoints": 0,
    }


def test_merge_conditions_keeps_the_transition_time_while_the_status_holds():
    first = status.merge_conditions(None, status.condition("Ready", False, "Deploying"), at="t1")
    same = status.merge_conditions(first, status.condition("Ready", False, "Deploying"), at="t2")
    flipped = status.merge_conditions(same, status.condition("Ready", True, "Ready"), at="t3")
    assert first == same
    assert [c["lastTransitionTime"] for c in (first[0], flipped[0])] == ["t1", "t3"]


def test_merge_conditions_replaces_by_type_and_keeps_others():
    merged = status.merge_conditions(
        [{"type": "Accepted", "status": "True", "reason": "ok", "lastTransitionTime": "t0"}],
        status.condition("Complete", None, "Running"),
        at="t1",
    )
    assert [(c["type"], c["status"]) for c in merged] == [
        ("Accepted", "True"),
        ("Complete", "Unknown"),
    ]
