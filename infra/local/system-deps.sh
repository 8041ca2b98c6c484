#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: etcd and Go (to build and run a
# local kube-apiserver), Prometheus and promtool (rules and dashboard queries), and the tools
# `apt-get source` needs. Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  etcd-server            # the control plane's store (tests/k8s)
  golang-go              # builds kube-apiserver / kube-controller-manager from Debian's source
  golang-github-modern-go-reflect2-dev  # replaces the vendored reflect2 that segfaults on Go >= 1.18
  dpkg-dev               # apt-get source
  rsync make git
  prometheus             # prometheus + promtool (tests/observability)
  curl
  wrk                    # the serving benchmark's HTTP client (tests/benchmarks/bench_serving.py)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]}" >&2
  echo "system-deps: run 'sudo $0' once (or install them), then 'make test' again" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the prometheus service on install; the tests start their own on loopback.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
pkill -x prometheus 2>/dev/null || true
