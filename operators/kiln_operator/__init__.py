"""Kiln's Kubernetes operator (kopf): TrainingJob → KubeRay RayJob, ModelDeployment → RayService.

Run it with ``python -m kiln_operator``; the handlers are in ``kiln_operator.handlers``, the
pure rendering in ``kiln_operator.render``, the CRDs in ``CRD_DIR``. RBAC: ``RBAC.md``.
"""

from pathlib import Path

CRD_DIR = Path(__file__).resolve().parent / "crds"

__all__ = ["CRD_DIR"]
