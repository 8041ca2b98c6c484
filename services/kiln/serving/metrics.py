"""Kiln's serving metrics, declared once (names from docs/INTERFACES.md).

They go through Ray Serve's metrics API, so the Ray metrics agent exports them (with a ``ray_``
prefix) next to Serve's own ``ray_serve_*`` series, and Serve adds the deployment, replica and
application tags. Labels stay few and bounded: task, model, version, status code, role.
"""

from __future__ import annotations

from ray.serve import metrics

LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]


class ServingMetrics:
    def __init__(self, task: str, model: str) -> None:
        self.task, self.model = task, model
        self.requests = metrics.Counter(
            "kiln_inference_requests_total",
            description="Inference requests answered, by status code.",
            tag_keys=("task", "model", "version", "code"),
        )
        self.latency = metrics.Histogram(
            "kiln_inference_latency_seconds",
            description="Time from a request reaching the model deployment to its answer.",
            boundaries=LATENCY_BUCKETS,
            tag_keys=("task", "model", "version"),
        )
        self.batch_size = metrics.Histogram(
            "kiln_inference_batch_size",
            description="Requests run together in one onnxruntime call.",
            boundaries=BATCH_BUCKETS,
            tag_keys=("task", "model", "version"),
        )
        self.info = metrics.Gauge(
            "kiln_model_info",
            description="1 for each model version a deployment serves, by role.",
            tag_keys=("task", "model", "version", "role"),
        )

    def _tags(self, version: int | str) -> dict[str, str]:
        return {"task": self.task, "model": self.model, "version": str(version)}

    def observe_request(self, version: int | str, code: int, seconds: float | None) -> None:
        self.requests.inc(1, tags={**self._tags(version), "code": str(code)})
        if seconds is not None:
            self.latency.observe(seconds, tags=self._tags(version))

    def observe_batch(self, version: int | str, size: int) -> None:
        self.batch_size.observe(size, tags=self._tags(version))

    def set_serving(self, version: int, role: str, serving: bool) -> None:
        self.info.set(1.0 if serving else 0.0, tags={**self._tags(version), "role": role})
