"""A real Prometheus (Debian's /usr/bin/prometheus) for tests: loopback only, a temporary
config and data directory, a free port, and a stop that ends the process and removes both.

    with Prometheus({"ray": ["127.0.0.1:8080"], "operator": ["127.0.0.1:9090"]}) as prom:
        prom.wait_for_targets()
        prom.query('sum(rate(ray_kiln_inference_requests_total[1m]))')
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml


class PrometheusUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """Scrapes each job's targets every 3 s (the tests cannot wait Prometheus' minute), with as
    long to answer: a scrape timeout defaults to the interval when that is under 10 s, and the
    Ray metrics agent's page grows with every replica the session has run (it keeps their
    histogram series), so after a whole suite one second was not always enough."""

    def __init__(
        self,
        jobs: dict[str, list[str]],
        scrape_interval: str = "3s",
        rule_groups: list[dict[str, Any]] | None = None,
    ) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusUnavailable("prometheus is not installed (Debian package `prometheus`)")
        self.binary = binary
        self.jobs, self.interval = jobs, scrape_interval
        self.rule_groups = rule_groups  # evaluated every scrape interval
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="kiln-prometheus-"))
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Prometheus:
        config = {
            "global": {
                "scrape_interval": self.interval,
                "scrape_timeout": self.interval,
                "evaluation_interval": self.interval,
            },
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in self.jobs.items()
            ],
        }
        if self.rule_groups is not None:
            rules = self.workdir / "rules.yml"
            rules.write_text(yaml.safe_dump({"groups": self.rule_groups}))
            config["rule_files"] = [str(rules)]
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PrometheusUnavailable(f"prometheus exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise PrometheusUnavailable(f"prometheus not ready after {timeout:.0f} s:\n{self.log()}")

    def targets(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()
        return reply["data"]["activeTargets"]

    def wait_for_targets(self, timeout: float = 30.0) -> None:
        """Until every target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            time.sleep(0.5)
        raise AssertionError(f"targets not up: {self.targets()}\n{self.log()}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; a query Prometheus refuses raises with its error."""
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=30).json()
        if reply.get("status") != "success":
            raise AssertionError(f"{expr}: {reply.get('errorType')}: {reply.get('error')}")
        result: list[dict[str, Any]] = reply["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts of the loaded rules that are pending or firing now, with their labels."""
        reply = httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()
        alerts: list[dict[str, Any]] = reply["data"]["alerts"]
        return alerts

    def alert_rules(self) -> dict[str, tuple[str, float]]:
        """Alert name -> (state: inactive, pending or firing; Unix time of its last evaluation,
        0 before the first) of every loaded alerting rule."""
        reply = httpx.get(f"{self.url}/api/v1/rules", params={"type": "alert"}, timeout=10).json()
        return {
            rule["name"]: (rule["state"], _unix(rule.get("lastEvaluation", "")))
            for group in reply["data"]["groups"]
            for rule in group["rules"]
        }


def _unix(stamp: str) -> float:
    """Prometheus' RFC 3339 UTC time (nanosecond fraction) as Unix seconds; 0 for its zero time."""
    date, _, fraction = stamp.rstrip("Z").partition(".")
    if not date or date.startswith("0001"):
        return 0.0
    from datetime import UTC, datetime

    whole = datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{fraction or 0}")
