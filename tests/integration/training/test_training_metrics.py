"""Training metrics reach Prometheus through Ray's metrics agent, under the names the
dashboards use (``ray_`` + the name declared in kiln.training.metrics)."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.ray


def scrape(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def test_rank_zero_metrics_are_exported_with_bounded_labels(ray_local):
    ray = ray_local
    from kiln.training.metrics import TrainingMetrics

    @ray.remote(num_cpus=0)
    class Rank0:
        def record(self) -> None:
            metrics = TrainingMetrics("forecasting", "lstm", "metrics-test")
            metrics.record_epoch(
                epoch=3, loss=1.5, val_loss=2.5, seconds=4.0, samples_per_second=800.0, workers=2
            )
            metrics.record_restart()
            self.metrics = metrics  # keep the instruments alive until the actor goes

    actor = Rank0.remote()
    try:
        ray.get(actor.record.remote())
        port = ray._private.worker._global_node.metrics_export_port
        wanted = {
            "ray_kiln_training_epoch": 3.0,
            "ray_kiln_training_loss": 1.5,
            "ray_kiln_training_val_loss": 2.5,
            "ray_kiln_training_epoch_seconds": 4.0,
            "ray_kiln_training_samples_per_second": 800.0,
            "ray_kiln_training_workers": 2.0,
        }
        deadline = time.monotonic() + 60
        found: dict[str, float] = {}
        while time.monotonic() < deadline and len(found) < len(wanted) + 1:
            for line in scrape(port).splitlines():
                if 'run="metrics-test"' not in line or line.startswith("#"):
                    continue
                name = line.split("{", 1)[0]
                assert 'task="forecasting"' in line and 'model="lstm"' in line
                found[name] = float(line.rsplit(" ", 1)[1])
            time.sleep(2)
        for name, value in wanted.items():
            assert found.get(name) == value, (name, found)
        assert found.get("ray_kiln_training_restarts_total") == 1.0, found

        # An epoch can outlast Ray's ~20 s gauge expiry: the run keeps its series alive.
        time.sleep(35)
        still = [
            line
            for line in scrape(port).splitlines()
            if line.startswith("ray_kiln_training_epoch{") and 'run="metrics-test"' in line
        ]
        assert still and float(still[0].rsplit(" ", 1)[1]) == 3.0, still
    finally:
        ray.kill(actor)
