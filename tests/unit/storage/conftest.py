"""Helpers for kiln.storage's tests: point the storage layer at another endpoint, and a
fault-injecting HTTP proxy in front of the moto server."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from kiln import storage
from kiln.storage import faults


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def endpoint(monkeypatch):
    """``endpoint(url)`` makes kiln.storage reach S3 at ``url`` for this test (through the
    standard ``AWS_ENDPOINT_URL`` chain, rebuilt by ``storage.reset``)."""

    def point(url: str) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        storage.reset()

    yield point
    monkeypatch.undo()
    storage.reset()


@pytest.fixture
def fast_retries(monkeypatch):
    """Shrink the backoff so fault tests take milliseconds; the attempt count stays."""
    monkeypatch.setattr(faults, "BASE_DELAY_SECONDS", 0.01)


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to ``upstream`` but answers the first
    ``fail`` requests with a fault instead: ``"503"`` (S3's SlowDown throttling reply) or
    ``"reset"`` (the connection is closed without a reply)."""

    def __init__(self, upstream: str, fail: int, kind: str = "503") -> None:
        self.upstream = urlsplit(upstream)
        self.remaining = fail
        self.kind = kind
        self.faults = 0
        self.forwarded = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take_fault(self) -> bool:
        with self.lock:
            if self.remaining > 0:
                self.remaining -= 1
                self.faults += 1
                return True
            self.forwarded += 1
            return False

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy._take_fault():
                    if proxy.kind == "reset":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    reply = (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
                        b"<Message>Please reduce your request rate.</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        return Handler


@pytest.fixture
def faulty_proxy(s3_server, endpoint):
    """``faulty_proxy(fail, kind)`` starts a :class:`FaultyProxy` in front of the session's
    moto server and points kiln.storage at it."""
    proxies: list[FaultyProxy] = []

    def start(fail: int, kind: str = "503") -> FaultyProxy:
        proxy = FaultyProxy(s3_server, fail, kind)
        proxies.append(proxy)
        endpoint(proxy.url)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def authenticating_s3():
    """A second moto server, in its own process, that checks credentials (moto's IAM
    authentication on from the first request): the session's dummy keys are unknown to it."""
    port = free_port()
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the authenticating moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
