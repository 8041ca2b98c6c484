"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Data the tests read, vendored with its source named (e.g. fixtures/kuberay-crds/README.md).
FIXTURES = ROOT / "tests" / "fixtures"

# Keep TensorFlow quiet and on the CPU in tests (there is no GPU here).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose infrastructure is missing, except under CI, where that is a failure."""
    if in_ci():
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session (starting Ray costs seconds). Tests that use Serve
    must shut Serve down when they finish so training tests find their CPUs free."""
    import ray

    if not ray.is_initialized():
        ray.init(
            # A new local Ray even while another test's `ray start --head` cluster is up on
            # this machine (ray.init() with no address would try to join that one).
            address="local",
            num_cpus=4,  # logical CPUs: 2 training workers + Serve replicas fit on 2 real cores
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    yield ray
    ray.shutdown()


@pytest.fixture
def registered():
    """``registered(registry, name, run_id)`` → the version a fake ``kiln export`` of run
    ``run_id`` got in a real (local) registry store; the model bytes are not a real ONNX file
    (the operator only reads manifests)."""

    def register(registry: str, name: str, run_id: str) -> int:
        from kiln.registry import Manifest, RegistryStore, TensorSpec, TimeseriesPreprocessing

        manifest = Manifest(
            name=name,
            task="forecasting",
            architecture="lstm",
            inputs=[TensorSpec(name="input", dtype="float32", shape=[-1, 120, 14])],
            outputs=[TensorSpec(name="output", dtype="float32", shape=[-1, 1])],
            preprocessing=TimeseriesPreprocessing(
                columns=["T (degC)"],
                mean=[9.0],
                std=[8.0],
                sequence_length=120,
                sampling_rate=6,
                target_column="T (degC)",
                horizon_hours=24,
            ),  # fmt: skip
            source_run=run_id,
        )
        return RegistryStore(registry).register(manifest, b"not-onnx-" + run_id.encode()).version

    return register


_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "kiln-test",
    "AWS_SECRET_ACCESS_KEY": "kiln-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    # A developer's own profile and config files must not leak into the tests.
    "AWS_CONFIG_FILE": "/nonexistent/kiln-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/kiln-test-aws-credentials",
}


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API on 127.0.0.1: moto's ``ThreadedMotoServer`` on a free port, for the
    whole session. Yields its endpoint URL (``http://127.0.0.1:PORT``).

    For the session it sets ``AWS_ENDPOINT_URL`` to that endpoint, dummy
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` and empty AWS
    config files in ``os.environ``, so every S3 client in this process and in child processes
    started after it (Ray workers, ``kiln`` subprocesses) reaches the server through the
    standard credential chain, as it would reach MinIO or AWS. Missing moto is a skip
    locally and a failure under ``CI=true``."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        skip_or_fail("moto[server] is not installed (pip install -e '.[test]')")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    _make_moto_conditional_puts_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    env = {**_S3_ENV, "AWS_ENDPOINT_URL": url}
    saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"]}
    os.environ.update(env)
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(k, None)
    from kiln import storage

    storage.reset()
    yield url
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    storage.reset()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket on the session's :func:`s3_server`; yields ``s3://<bucket>``.
    Each test gets its own bucket name, so tests never see each other's objects."""
    import uuid

    from kiln import storage

    name = f"kiln-test-{uuid.uuid4().hex[:12]}"
    fs, _ = storage.filesystem(f"s3://{name}")
    fs.mkdir(name)
    yield f"s3://{name}"


def _make_moto_conditional_puts_atomic() -> None:
    """moto checks ``If-None-Match: *`` and stores the object in two steps, where S3 does both
    atomically; concurrent conditional creates could then both succeed on moto. One lock around
    moto's PUT handler (this process serves every client of the test server, child processes
    included) gives the server S3's guarantee, which the registry race tests rely on."""
    import functools
    import threading

    from moto.s3.responses import S3Response

    if getattr(S3Response.put_object, "_kiln_atomic", False):
        return
    lock = threading.Lock()
    original = S3Response.put_object

    @functools.wraps(original)
    def put_object(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    put_object._kiln_atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign]
