#!/usr/bin/env bash
# Builds Kiln's container images (`make images`):
#   kiln-ray        trains and serves (rayproject/ray:2.60.0-py311 + TensorFlow, tf2onnx, ORT)
#   kiln-ray-gpu    the same on rayproject/ray:2.60.0-py311-gpu with TensorFlow's CUDA wheels
#   kiln-serve      TF-free serving (Ray Serve + onnxruntime)
#   kiln-operator   the kopf operator on python:3.11-slim
#
#   KILN_IMAGE_REGISTRY=ghcr.io/kiln-ml KILN_IMAGE_TAG=0.1.0 bash infra/docker/build.sh [image...]
#
# Uses docker or podman, whichever exists (KILN_CONTAINER_ENGINE picks one); BuildKit reads the
# <Dockerfile>.dockerignore beside each Dockerfile, so only sources go into the build context.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/infra/docker"
registry="${KILN_IMAGE_REGISTRY:-ghcr.io/kiln-ml}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/pyproject.toml" | head -n 1)"
tag="${KILN_IMAGE_TAG:-$version}"

engine="${KILN_CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  for candidate in docker podman; do
    if command -v "$candidate" >/dev/null 2>&1; then
      engine="$candidate"
      break
    fi
  done
fi
if [ -z "$engine" ] || ! command -v "$engine" >/dev/null 2>&1; then
  echo "build.sh: ERROR: no container engine found (looked for ${engine:-docker, podman})." >&2
  echo "build.sh: install Docker (with BuildKit) or Podman, or set KILN_CONTAINER_ENGINE." >&2
  exit 1
fi
# A client without a daemon (or a rootless podman without its service) fails here, in a second.
if ! "$engine" info >/dev/null 2>&1; then
  echo "build.sh: ERROR: '$engine' is installed but cannot build here ('$engine info' fails:" >&2
  echo "build.sh: is its daemon running and reachable?)." >&2
  exit 1
fi

build() {
  local name="$1" dockerfile="$2"
  shift 2
  echo "build.sh: $engine build $registry/$name:$tag ($dockerfile)"
  DOCKER_BUILDKIT=1 "$engine" build \
    --file "$here/$dockerfile" \
    --tag "$registry/$name:$tag" \
    --label "org.opencontainers.image.version=$tag" \
    --label "org.opencontainers.image.source=https://github.com/kiln-ml/kiln" \
    "$@" "$root"
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(kiln-ray kiln-ray-gpu kiln-serve kiln-operator)
for image in "${wanted[@]}"; do
  case "$image" in
    kiln-ray) build kiln-ray ray.Dockerfile ;;
    kiln-ray-gpu)
      build kiln-ray-gpu ray.Dockerfile \
        --build-arg RAY_TAG=2.60.0-py311-gpu --build-arg "TF_EXTRA=[and-cuda]" ;;
    kiln-serve) build kiln-serve serve.Dockerfile ;;
    kiln-operator) build kiln-operator operator.Dockerfile ;;
    *)
      echo "build.sh: ERROR: unknown image '$image' (kiln-ray, kiln-ray-gpu, kiln-serve, kiln-operator)" >&2
      exit 2
      ;;
  esac
done
