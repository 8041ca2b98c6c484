"""Property-based fuzzing of the served API against its own OpenAPI document (issue 13).

``schemathesis`` reads ``/openapi.json`` from the real Serve application on 127.0.0.1 (bearer
auth on) and sends generated requests, valid and invalid, to every route of both protocols,
for the single-task app and the three-task app (each one deployment that is its own ingress,
hosting one task or all three). Its checks: no 5xx for any input, every answer's status,
content type and body as the document says, and invalid data refused with a 4xx. The run is
bounded in examples per route and seeded, so it is the same run every time.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray
TOKEN = "fuzz-token"
CHECKS = [
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "negative_data_rejection",
]


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "token"
    path.write_text(TOKEN)
    return str(path)


def fuzz(base_url: str, examples: int) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--seed",
        "1",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize(
    "tasks", [["classification"], ["classification", "segmentation", "forecasting"]]
)
def test_the_served_api_survives_the_fuzzer_and_matches_its_document(
    deploy, registry, tiny, token_file, tasks
):
    args = {
        "registry": registry,
        "models": {task: {"name": tiny.NAMES[task]} for task in tasks},
        "auth_token_file": token_file,
        "max_body_bytes": 64 * 1024,
    }
    result = fuzz(deploy(args), examples=25)
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    print(summary)  # the counts of generated and failed cases, in the test log
    assert result.returncode == 0, result.stdout[-15000:] + result.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary
