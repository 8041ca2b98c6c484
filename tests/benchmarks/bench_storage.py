"""Storage: staging a dataset from a real S3 API (moto's server on 127.0.0.1), cold against
cached, and against a plain local copy of the same bytes.

The dataset is the synthetic Jena CSV ``kiln data synth --task forecasting`` writes (60 days
by default; ``KILN_BENCH_JENA_DAYS`` for more). Each round stages into an empty cache (cold:
list, download, index), then again into the same cache (cached: one listing, nothing
downloaded), then copies the file locally (the floor a local disk gives). Ratios only:
``python -m tests.benchmarks storage``; ``KILN_BENCH_QUICK=1`` for fewer rounds.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

QUICK = os.environ.get("KILN_BENCH_QUICK", "") not in ("", "0")
ROUNDS = 3 if QUICK else 7


def _start_s3() -> object:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return server


def main() -> None:
    from kiln import storage
    from kiln.data.synthetic import write_synthetic

    server = _start_s3()
    storage.reset()
    work = Path(tempfile.mkdtemp(prefix="kiln-bench-storage-"))
    try:
        days = int(os.environ.get("KILN_BENCH_JENA_DAYS", "60"))
        local = write_synthetic("forecasting", work / "jena", size=days, seed=0).out
        size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        fs, _ = storage.filesystem("s3://bench")
        fs.mkdir("bench")
        storage.upload_dir(local, "s3://bench/jena")
        cold, cached, copy = [], [], []
        for i in range(ROUNDS):
            cache = work / f"cache-{i}"
            started = time.perf_counter()
            storage.stage("s3://bench/jena", cache)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            storage.stage("s3://bench/jena", cache)
            cached.append(time.perf_counter() - started)
            started = time.perf_counter()
            shutil.copytree(local, work / f"copy-{i}")
            copy.append(time.perf_counter() - started)
        c, h, p = (statistics.median(v) for v in (cold, cached, copy))
        print(f"synthetic Jena CSV: {days} days, {size / 2**20:.2f} MiB, median of {ROUNDS}")
        print(f"{'stage, cold cache':<28}{c * 1000:9.1f} ms   {c / p:6.1f}x a local copy")
        print(f"{'stage, cached (same ETag)':<28}{h * 1000:9.1f} ms   {h / p:6.1f}x a local copy")
        print(f"{'local copy (baseline)':<28}{p * 1000:9.1f} ms")
        print(f"cold / cached: {c / h:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.stop()  # type: ignore[attr-defined]
