# syntax=docker/dockerfile:1.7
# The TF-free serving image: Ray Serve + onnxruntime/OpenVINO + Kiln's serving package, for RayServices
# that only serve (kiln.serving never imports TensorFlow or Keras, so the image stays small and
# starts fast). Same Ray base as ray.Dockerfile; RAY_TAG=2.60.0-py311-gpu for GPU nodes.
ARG RAY_TAG=2.60.0-py311
FROM rayproject/ray:${RAY_TAG}

# Versions are pyproject.toml's ranges, word for word (tests/chart/test_images.py checks).
# s3fs and gcsfs: replicas load models from s3:// and gs:// registries (kiln.storage).
RUN pip install --no-cache-dir \
      "onnxruntime-gpu>=1.31,<1.33" \
      "openvino>=2026.4,<2027" \
      "numpy>=1.26,<3" \
      "prometheus-client>=0.20" \
      "pydantic>=2.7,<3" \
      "pyyaml>=6" \
      "click>=8.1" \
      "rich>=13" \
      "pillow>=10" \
      "fsspec>=2024.2" \
      "s3fs>=2024.10" \
      "gcsfs>=2024.10" \
      "filelock>=3.13" \
      "fastapi>=0.110" \
      "httpx>=0.27"

COPY --chown=1000:100 pyproject.toml README.md /home/ray/kiln/
COPY --chown=1000:100 services /home/ray/kiln/services
COPY --chown=1000:100 operators /home/ray/kiln/operators
# --no-deps: the package's full dependency list includes TensorFlow, which this image leaves out.
# The import check fails the build if serving ever pulls TensorFlow in.
RUN pip install --no-cache-dir --no-deps /home/ray/kiln \
 && python -c "import kiln.serving.app, sys; assert 'tensorflow' not in sys.modules"

USER 1000
WORKDIR /home/ray
EXPOSE 8000
# A RayService overrides this with serveConfigV2; `docker run` serves a registry directly:
#   docker run -p 8000:8000 IMAGE serve run kiln.serving.app:build_app registry=s3://...
CMD ["serve", "run", "kiln.serving.app:build_app"]
