"""Kiln's serving metrics, declared once (names from docs/INTERFACES.md).

They go through Ray Serve's metrics API, so the Ray metrics agent exports them (with a ``ray_``
prefix) next to Serve's own ``ray_serve_*`` series, and Serve adds the deployment, replica and
application tags. Labels stay few and bounded: task, model, version, status code, role, and for drift the
feature, which comes from the model's manifest (its columns, channels, brightness/contrast,
output classes), never from a request.
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
        self.input_drift = metrics.Gauge(
            "kiln_input_drift_score",
            description="Population stability index of served inputs against the training "
            "split's histogram, per feature, over the drift window (0 = same; > 0.2 = drifted).",
            tag_keys=("task", "model", "version", "feature"),
        )
        self.output_drift = metrics.Gauge(
            "kiln_output_drift_score",
            description="Population stability index of the model's answers against its answers "
            "on the training split, per output feature, over the drift window.",
            tag_keys=("task", "model", "version", "feature"),
        )
        self.drift_samples = metrics.Gauge(
            "kiln_drift_window_samples",
            description="Served instances in the drift window the scores were computed over.",
            tag_keys=("task", "model", "version"),
        )

    def _tags(self, version: int | str) -> dict[str, str]:
        return {"task": self.task, "model": self.model, "version": str(version)}

    def observe_request(self, version: int | str, code: int, seconds: float | None) -> None:
        self.requests.inc(1, tags={**self._tags(version), "code": str(code)})
        if seconds is not None:
            self.latency.observe(seconds, tags=self._tags(version))

    def observe_batch(self, version: int | str, size: int) -> None:
        self.batch_size.observe(size, tags=self._tags(version))

    def set_drift(
        self,
        version: int | str,
        samples: int,
        inputs: dict[str, float],
        outputs: dict[str, float],
    ) -> None:
        tags = self._tags(version)
        self.drift_samples.set(float(samples), tags=tags)
        for feature, score in inputs.items():
            self.input_drift.set(score, tags={**tags, "feature": feature})
        for feature, score in outputs.items():
            self.output_drift.set(score, tags={**tags, "feature": feature})

    def set_serving(self, version: int, role: str, serving: bool) -> None:
        self.info.set(1.0 if serving else 0.0, tags={**self._tags(version), "role": role})


class ShedMetrics:
    """Requests the ingress deployment (``ingress_deployment: true``) shed with 503 and
    Retry-After because a task deployment's queue was full. (The default app, one deployment
    that is its own ingress, sheds at Serve's proxy, before any Kiln code: Serve counts those
    as 503s in ``serve_num_http_requests``.)"""

    def __init__(self, task: str, model: str) -> None:
        self.tags = {"task": task, "model": model}
        self.shed = metrics.Counter(
            "kiln_requests_shed_total",
            description="Requests answered 503 with Retry-After because the task's queue was full.",
            tag_keys=("task", "model"),
        )

    def observe_shed(self) -> None:
        self.shed.inc(1, tags=self.tags)
