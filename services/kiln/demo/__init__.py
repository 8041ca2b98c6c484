"""`kiln demo`: the embedded default end to end on this machine.

Synthetic data in the real layouts → one model per task trained on Ray Train (2 workers) →
ONNX export with the parity gate → registry → the Serve application on 127.0.0.1 → real
requests through both APIs → a summary table and plots. TF-free at import: ``run_demo`` loads
the heavy parts when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.demo.plan import BUDGETS, DemoConfig

if TYPE_CHECKING:
    from kiln.demo.run import DemoResult

__all__ = ["BUDGETS", "DemoConfig", "run_demo"]


def run_demo(config: DemoConfig, **options: Any) -> DemoResult:
    from kiln.demo.run import run_demo as run

    return run(config, **options)
