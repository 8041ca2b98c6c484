"""Drift end to end, as an operator would meet it: models trained on one world, served by the
real Serve app, scraped by the real Prometheus (Debian's) evaluating Kiln's own drift rules.

- A forecaster (``dense``, one epoch) trained on a mild coastal climate: replaying held-out
  windows of that climate leaves ``KilnInputDrift`` quiet; windows of a colder, more variable
  climate make it fire.
- A digit classifier (``mnist_convnet``, one epoch): held-out digits leave it quiet; the same
  digits darkened make it fire.

Both models are trained and exported by the real ``kiln train`` (Ray Train, one worker) and
``kiln export``, which records the training split's statistics in the manifest. The rules are
``infra/prometheus/kiln-rules.yaml``'s ``kiln-drift`` group as shipped, except ``for:``, cut from
10 minutes to a few seconds (promtool's unit tests cover the duration); Prometheus scrapes and
evaluates every 2 s. The test waits for what it needs to see (samples in Prometheus, a rule
evaluation after them) under generous deadlines and asserts on states, never on times.
"""

from __future__ import annotations

import base64
import io
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from tests.conftest import skip_or_fail
from tests.observability.prometheus import Prometheus, PrometheusUnavailable

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
KILN = str(Path(sys.executable).with_name("kiln"))
COLUMNS = ("temperature (degC)", "pressure (hPa)", "humidity (%)")
WINDOW = 256  # the replicas' drift window: above the rule's 200-instance minimum
BATCH = 64  # instances per request (the API's most)
STEPS = 30  # hourly rows per forecasting window: the model reads the last day


def climate(days: int, seed: int, *, temperature: float, swing: float, noise: float) -> str:
    """Hourly rows of a stationary climate as CSV: a daily temperature cycle around
    ``temperature`` plus AR(1) weather of spread ``noise``; pressure and humidity follow the
    weather, more widely where it is more variable."""
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    weather = np.zeros(len(hours))
    for i in range(1, len(hours)):
        weather[i] = 0.9 * weather[i - 1] + rng.normal(0, noise * np.sqrt(1 - 0.81))
    temp = temperature + swing * np.cos(2 * np.pi * (hours - 15) / 24) + weather
    pressure = 1013 - 1.5 * weather * noise + rng.normal(0, 1, len(hours))
    humidity = np.clip(75 - 2 * weather + rng.normal(0, 3, len(hours)), 5, 100)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    lines = ["timestamp," + ",".join(COLUMNS)]
    for h, row in enumerate(zip(temp, pressure, humidity, strict=True)):
        stamp = (start + timedelta(hours=int(h))).isoformat()
        lines.append(stamp + "," + ",".join(f"{v:.2f}" for v in row))
    return "\n".join(lines) + "\n"


MILD = {"temperature": 14.0, "swing": 3.0, "noise": 1.0}  # coastal: mild, steady
COLD = {"temperature": -3.0, "swing": 7.0, "noise": 4.0}  # continental winter: colder, wilder


def kiln(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [KILN, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"kiln {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


def train_and_export(root: Path, name: str, *train_args: str) -> None:
    run = kiln(
        "train", *train_args, "--epochs", "1", "--workers", "1", "--out", str(root / "runs"),
        "--run-id", name, "--no-tensorboard", "--quiet", cwd=root,
    )  # fmt: skip
    kiln("export", run, "--registry", str(root / "registry"), "--name", name, cwd=root)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A registry holding the coastal forecaster and the digit classifier, each with its
    training split's statistics in the manifest. The two are trained and exported side by side
    (each `kiln train` starts its own local Ray): most of their time is start-up, not compute."""
    root = tmp_path_factory.mktemp("drift")
    (root / "coast").mkdir()
    (root / "coast" / "coast.csv").write_text(climate(60, seed=0, **MILD))
    kiln("data", "synth", "--task", "mnist", "--out", "digits", "--size", "400", cwd=root)
    jobs = [
        ("coast", "--task", "forecasting", "--model", "dense", "--data", str(root / "coast"),
         "--target", COLUMNS[0], "--window", "1d", "--step", "1h", "--horizon", "6h"),
        ("digits", "--task", "classification", "--model", "mnist_convnet",
         "--data", str(root / "digits")),
    ]  # fmt: skip
    with ThreadPoolExecutor(len(jobs)) as pool:
        for done in [pool.submit(train_and_export, root, *job) for job in jobs]:
            done.result()
    return root


@pytest.fixture(scope="module")
def served(ray_local, trained) -> Iterator[str]:
    """Both models in Kiln's one Serve application on 127.0.0.1, drift over WINDOW instances."""
    from ray import serve

    from kiln.serving.app import build_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        args = {
            "registry": str(trained / "registry"),
            "models": {"forecasting": {"name": "coast"}, "classification": {"name": "digits"}},
            "drift": {"window": WINDOW},
            "auth_token_env": None,
            "intra_op_threads": 1,
        }
        serve.run(build_app(args), name="kiln", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()


def drift_rules(seconds: str) -> list[dict[str, Any]]:
    """The shipped kiln-drift rule group, each alert's ``for`` cut to ``seconds``."""
    groups = yaml.safe_load((ROOT / "infra/prometheus/kiln-rules.yaml").read_text())["groups"]
    (group,) = [g for g in groups if g["name"] == "kiln-drift"]
    for rule in group["rules"]:
        rule["for"] = seconds
    return [group]


@pytest.fixture(scope="module")
def prometheus(ray_local, served) -> Iterator[Prometheus]:
    port = ray_local.nodes()[0]["MetricsExportPort"]
    try:
        with Prometheus(
            {"ray": [f"127.0.0.1:{port}"]}, scrape_interval="2s", rule_groups=drift_rules("4s")
        ) as prom:
            prom.wait_for_targets()
            yield prom
    except PrometheusUnavailable as e:
        skip_or_fail(str(e))


def scores(prom: Prometheus, task: str) -> dict[str, float]:
    result = prom.query(f'max by (feature) (ray_kiln_input_drift_score{{task="{task}"}})')
    return {r["metric"]["feature"]: float(r["value"][1]) for r in result}


def drift_alerts(prom: Prometheus, task: str) -> list[dict[str, Any]]:
    return [
        a
        for a in prom.alerts()
        if a["labels"]["alertname"] == "KilnInputDrift" and a["labels"]["task"] == task
    ]


def replay_until(
    send: Callable[[], None], done: Callable[[], bool], what: str, timeout: float = 180
) -> None:
    """Keep replaying (so the window stays full and its gauges fresh) until ``done()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        send()
        if done():
            return
        time.sleep(1)
    raise AssertionError(f"gave up waiting for {what}")


def assert_quiet_then_fires(
    prom: Prometheus, task: str, held_out: Callable[[], None], shifted: Callable[[], None]
) -> None:
    samples = f'max(ray_kiln_drift_window_samples{{task="{task}"}}) >= 200'
    for _ in range(WINDOW // BATCH):
        held_out()
    replay_until(held_out, lambda: bool(prom.query(samples)), f"{task}'s full drift window")
    seen = time.time()
    # A rule evaluation (and one more, past `for`) over data that holds the full window.
    replay_until(
        held_out,
        lambda: prom.alert_rules()["KilnInputDrift"][1] > seen + 6,
        "two rule evaluations over the in-distribution window",
    )
    quiet = scores(prom, task)
    print(f"{task}: in-distribution input drift scores {quiet}")
    assert quiet and max(quiet.values()) < 0.2, quiet
    assert drift_alerts(prom, task) == []

    replay_until(
        shifted,
        lambda: any(a["state"] == "firing" for a in drift_alerts(prom, task)),
        f"KilnInputDrift to fire for {task}",
    )
    shifted_scores = scores(prom, task)
    print(f"{task}: shifted input drift scores {shifted_scores}")
    fired = {a["labels"]["feature"] for a in drift_alerts(prom, task) if a["state"] == "firing"}
    assert fired and all(shifted_scores[f] > 0.2 for f in fired), (fired, shifted_scores)
    (alert, *_) = drift_alerts(prom, task)
    assert "kiln drift report" in alert["annotations"]["runbook"]


def forecasting_sender(base_url: str, csv: str) -> Callable[[], None]:
    """Posts BATCH one-day windows of the climate in ``csv`` per call, walking through it."""
    header, *lines = csv.splitlines()
    names = header.split(",")
    rows = [dict(zip(names, line.split(","), strict=True)) for line in lines]
    position = [0]

    def send() -> None:
        instances = []
        for _ in range(BATCH):
            start = position[0] % (len(rows) - STEPS)
            instances.append(rows[start : start + STEPS])
            position[0] += 7
        reply = httpx.post(
            f"{base_url}/v1/forecasting/predict", json={"instances": instances}, timeout=60
        )
        assert reply.status_code == 200, reply.text

    return send


def test_a_colder_climate_fires_the_forecasters_drift_alert_its_own_does_not(served, prometheus):
    held_out = forecasting_sender(served, climate(60, seed=7, **MILD))
    colder = forecasting_sender(served, climate(60, seed=8, **COLD))
    assert_quiet_then_fires(prometheus, "forecasting", held_out, colder)


def digits_sender(base_url: str, images: np.ndarray, darken: float) -> Callable[[], None]:
    from PIL import Image

    def png(image: np.ndarray) -> str:
        buffer = io.BytesIO()
        Image.fromarray((image * darken).astype(np.uint8)).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    encoded = [png(image) for image in images.reshape(len(images), 28, 28)]
    position = [0]

    def send() -> None:
        batch = [encoded[(position[0] + i) % len(encoded)] for i in range(BATCH)]
        position[0] += BATCH
        reply = httpx.post(
            f"{base_url}/v1/classification/predict", json={"instances": batch}, timeout=60
        )
        assert reply.status_code == 200, reply.text

    return send


def test_darkened_images_fire_the_classifiers_drift_alert_held_out_ones_do_not(
    served, prometheus, trained
):
    kiln("data", "synth", "--task", "mnist", "--out", "held-out", "--size", "300", "--seed",
         "5", cwd=trained)  # fmt: skip
    (npz,) = (trained / "held-out").glob("*.npz")
    images = np.load(npz)["x_train"]
    held_out = digits_sender(served, images, darken=1.0)
    darkened = digits_sender(served, images, darken=0.3)
    assert_quiet_then_fires(prometheus, "classification", held_out, darkened)
