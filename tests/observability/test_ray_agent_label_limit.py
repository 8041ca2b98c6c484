"""Pins the Ray metrics agent's behaviour behind "Metrics in long-lived clusters" (docs/api.md):
the agent's recorder keeps at most 2000 label sets per histogram and folds newer ones into an
unlabelled overflow series, so a replica started after that exports nothing of its own. If this
fails after a Ray upgrade, the limit changed: revisit that section.

Runs Ray's own recorder (the class the agent uses) in a fresh interpreter, without a cluster,
so its global OpenTelemetry provider and Prometheus collector stay out of this process.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json
from prometheus_client import REGISTRY, generate_latest
from ray._private.telemetry.open_telemetry_metric_recorder import OpenTelemetryMetricRecorder

recorder = OpenTelemetryMetricRecorder()
recorder.register_histogram_metric("kiln_probe_seconds", "probe", [0.1, 1.0])
for i in range(2100):  # 2100 replicas that have come and gone
    recorder.set_metric_value("kiln_probe_seconds", {"WorkerId": f"old-{i}"}, 0.5)
recorder.set_metric_value("kiln_probe_seconds", {"WorkerId": "current"}, 0.5)
page = generate_latest(REGISTRY).decode()
counts = [line for line in page.splitlines() if line.startswith("ray_kiln_probe_seconds_count")]
print(json.dumps({
    "series": len(counts),
    "current": any('WorkerId="current"' in line for line in counts),
    "overflow": any('otel_metric_overflow="true"' in line for line in counts),
}))
"""


def test_the_agent_folds_label_sets_past_2000_into_one_overflow_series():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found == {"series": 2001, "current": False, "overflow": True}, found
