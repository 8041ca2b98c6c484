# syntax=docker/dockerfile:1.7
# The Ray image that trains and serves: what Kiln's RayJobs (kiln train, kiln export) and
# RayServices (kiln.serving.app:build_app) run on. Built by infra/docker/build.sh:
#   CPU: --build-arg RAY_TAG=2.60.0-py311          (default)
#   GPU: --build-arg RAY_TAG=2.60.0-py311-gpu --build-arg TF_EXTRA=[and-cuda]
# The Ray base must match pyproject.toml's ray pin (2.60.x): KubeRay starts these pods with the
# image's own `ray`, and a driver on another Ray version cannot join the cluster.
ARG RAY_TAG=2.60.0-py311
FROM rayproject/ray:${RAY_TAG}

# "" on CPU; "[and-cuda]" pulls the CUDA/cuDNN wheels TensorFlow needs on a GPU node
# (onnxruntime-gpu uses the same libraries and falls back to the CPU where there is no GPU).
ARG TF_EXTRA=""

# Dependencies first, in their own layer, so a source change does not reinstall TensorFlow.
# Versions are pyproject.toml's ranges, word for word (tests/chart/test_images.py checks).
# s3fs and gcsfs: datasets, runs, Ray Train checkpoints and registries on s3:// and gs://.
RUN pip install --no-cache-dir \
      "tensorflow${TF_EXTRA}>=2.21,<2.22" \
      "keras>=3.15,<3.16" \
      "onnx>=1.17,<1.24" \
      "tf2onnx>=1.17,<1.18" \
      "onnxruntime-gpu>=1.31,<1.33" \
      "openvino>=2026.4,<2027" \
      "numpy>=1.26,<3" \
      "prometheus-client>=0.20" \
      "pydantic>=2.7,<3" \
      "pyyaml>=6" \
      "click>=8.1" \
      "rich>=13" \
      "pillow>=10" \
      "matplotlib>=3.8" \
      "fsspec>=2024.2" \
      "s3fs>=2024.10" \
      "gcsfs>=2024.10" \
      "filelock>=3.13" \
      "fastapi>=0.110" \
      "httpx>=0.27"

# Kiln itself, without resolving dependencies again (Ray comes with the base image).
COPY --chown=1000:100 pyproject.toml README.md /home/ray/kiln/
COPY --chown=1000:100 services /home/ray/kiln/services
COPY --chown=1000:100 operators /home/ray/kiln/operators
RUN pip install --no-cache-dir --no-deps /home/ray/kiln && kiln --help >/dev/null

# The base image's unprivileged user "ray" (uid 1000); never root at run time.
USER 1000
WORKDIR /home/ray
ENV TF_CPP_MIN_LOG_LEVEL=2
CMD ["kiln", "--help"]
