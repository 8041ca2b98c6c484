"""A real, throwaway Kubernetes control plane on loopback: etcd + kube-apiserver +
kube-controller-manager, with token auth, RBAC and a generated kubeconfig.

    python infra/local/controlplane.py            # start, print `export KUBECONFIG=...`, wait
    python infra/local/controlplane.py --check    # say whether it can start here, and exit

The binaries come from ``bash infra/local/build-kube.sh`` (``make controlplane``), cached in
``${KILN_CACHE:-~/.cache/kiln}/k8s/bin``; etcd from Debian's ``etcd-server``. The tests in
tests/k8s import this module (``ControlPlane``). There is no kubelet and no scheduler: pods are
never run. The controller-manager runs the garbage collector (owner references), namespace,
service-account and deployment/replicaset controllers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = "garbagecollector,namespace,serviceaccount,serviceaccount-token,deployment,replicaset"
ENABLE_HINT = "run `make controlplane` (or `bash infra/local/build-kube.sh`) to build it"


class Unavailable(RuntimeError):
    """The control plane cannot be provisioned on this machine; the message says why and how."""


def bin_dir() -> Path:
    cache = os.environ.get("KILN_CACHE") or str(Path.home() / ".cache" / "kiln")
    return Path(cache) / "k8s" / "bin"


def missing_parts() -> list[str]:
    """What is missing to start a control plane here (empty when everything is in place)."""
    missing = [
        str(bin_dir() / name)
        for name in ("kube-apiserver", "kube-controller-manager")
        if not os.access(bin_dir() / name, os.X_OK)
    ]
    missing += [tool for tool in ("etcd", "openssl") if shutil.which(tool) is None]
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ControlPlane:
    """Start with ``start()`` (or ``with ControlPlane() as cp:``); everything lives in ``workdir``
    and is removed by ``stop()``, which also ends every process it started."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kiln-k8s-")))
    token: str = field(default_factory=lambda: os.urandom(16).hex())
    with_controller_manager: bool = True
    api_port: int = field(default_factory=free_port)
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    cm_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    etcd_data: Path | None = None

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    def start(self, timeout: float = 90.0) -> ControlPlane:
        """Start etcd and the apiserver (and the controller-manager, see its flag); on any
        failure, stop what started and raise ``Unavailable`` with the component's log."""
        missing = missing_parts()
        if missing:
            raise Unavailable(f"missing {', '.join(missing)}; {ENABLE_HINT}")
        try:
            self._pki()
            self._write_kubeconfig()
            self._start_etcd(timeout)
            self._start_apiserver(timeout)
            if self.with_controller_manager:
                self.start_controller_manager(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            _terminate(self.processes.pop(name))
        if self.etcd_data is not None:
            shutil.rmtree(self.etcd_data, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, name: str) -> str:
        """The last lines a component wrote (for failure messages)."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    # --- the pieces, in start order ---------------------------------------------------------

    def _pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ext = pki / "server.ext"
        ext.write_text(
            "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n"
        )
        steps = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=kiln-test-ca", "-keyout", "ca.key", "-out", "ca.crt",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver",
             "-keyout", "apiserver.key", "-out", "apiserver.csr"],
            ["x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "apiserver.crt"],
            ["genrsa", "-out", "sa.key", "2048"],
            ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
        ]  # fmt: skip
        for step in steps:
            subprocess.run(["openssl", *step], cwd=pki, check=True, capture_output=True)
        (pki / "tokens.csv").write_text(f'{self.token},kiln-admin,kiln-admin,"system:masters"\n')

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: kiln-test
  cluster:
    server: {self.api_url}
    certificate-authority: {self.ca_file}
users:
- name: kiln-admin
  user:
    token: {self.token}
contexts:
- name: kiln-test
  context: {{cluster: kiln-test, user: kiln-admin, namespace: default}}
current-context: kiln-test
"""
        )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
        # A new session, so stop() can signal the whole group and nothing outlives the tests.
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _start_etcd(self, timeout: float) -> None:
        # etcd fsyncs each write; on tmpfs that costs nothing (the data is throwaway anyway).
        shm = Path("/dev/shm")
        root = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.workdir
        data = self.etcd_data = Path(tempfile.mkdtemp(prefix="kiln-etcd-", dir=root))
        client, peer = (
            f"http://127.0.0.1:{self.etcd_port}",
            f"http://127.0.0.1:{self.etcd_peer_port}",
        )
        self._spawn("etcd", [
            "etcd", "--name", "kiln", "--data-dir", str(data),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"kiln={peer}", "--log-level", "warn",
        ])  # fmt: skip
        self._wait("etcd", f"{client}/health", timeout)

    def _start_apiserver(self, timeout: float) -> None:
        pki = self.workdir / "pki"
        self._spawn("kube-apiserver", [
            str(bin_dir() / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={self.api_port}", "--insecure-port=0",
            f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--token-auth-file={pki / 'tokens.csv'}", "--authorization-mode=RBAC",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24", "--profiling=false", "--v=1",
        ])  # fmt: skip
        self._wait("kube-apiserver", f"{self.api_url}/readyz", timeout)

    def start_controller_manager(self, timeout: float = 90.0) -> None:
        """Start the controller-manager (``start()`` does, unless told not to). Its garbage
        collector learns resource types at start and then only every ~30 s, so callers that
        install CRDs should do that first, then call this."""
        pki, kubeconfig = self.workdir / "pki", str(self.kubeconfig)
        (self.workdir / "cm-certs").mkdir(exist_ok=True)
        self._spawn("kube-controller-manager", [
            str(bin_dir() / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false",
            "--port=0", f"--secure-port={self.cm_port}", "--bind-address=127.0.0.1",
            f"--cert-dir={self.workdir / 'cm-certs'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", f"--controllers={CONTROLLERS}", "--v=1",
        ])  # fmt: skip
        # Its /healthz needs no credentials; its certificate is self-signed, hence no CA check.
        self._wait("kube-controller-manager", f"https://127.0.0.1:{self.cm_port}/healthz", timeout)

    def _wait(self, name: str, url: str, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if name == "kube-controller-manager":
            context = ssl._create_unverified_context()  # noqa: S323 - its own self-signed cert
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise Unavailable(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass  # not listening yet, or not ready (503): poll again
            time.sleep(0.2)
        raise Unavailable(f"{name} not ready at {url} after {timeout:.0f} s:\n{self.log(name)}")


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it can start")
    args = parser.parse_args()
    missing = missing_parts()
    if args.check or missing:
        print(f"missing: {', '.join(missing)}; {ENABLE_HINT}" if missing else "ready to start")
        raise SystemExit(1 if missing else 0)
    with ControlPlane() as plane:
        print(
            f"export KUBECONFIG={plane.kubeconfig}  # {plane.api_url}; Ctrl-C stops and cleans up"
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            while all(p.poll() is None for p in plane.processes.values()):
                time.sleep(1)
            print("a component exited; stopping")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
