# syntax=docker/dockerfile:1.7
# The Kiln operator: kopf handlers that turn TrainingJobs and ModelDeployments into KubeRay
# RayJobs and RayServices. It imports neither TensorFlow nor Ray, so a slim Python base does.
FROM python:3.11.11-slim-bookworm

# Versions are pyproject.toml's ranges, word for word (tests/chart/test_images.py checks).
# fsspec, its object-store drivers (s3fs, gcsfs) and filelock: the operator reads the registry
# (kiln.registry through kiln.storage) to record which version a finished TrainingJob registered.
RUN pip install --no-cache-dir \
      "kopf>=1.37,<2" \
      "kubernetes>=31,<37" \
      "pydantic>=2.7,<3" \
      "pyyaml>=6" \
      "prometheus-client>=0.20" \
      "fsspec>=2024.2" \
      "s3fs>=2024.10" \
      "gcsfs>=2024.10" \
      "filelock>=3.13"

COPY pyproject.toml README.md /opt/kiln/
COPY services /opt/kiln/services
COPY operators /opt/kiln/operators
RUN pip install --no-cache-dir --no-deps /opt/kiln \
 && python -c "import kiln_operator.handlers" \
 && useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin kiln

# Non-root; the chart adds a read-only root filesystem, dropped capabilities and seccomp.
USER 1000:1000
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "kiln_operator"]
