"""`make bench`: run every benchmark module (tests/benchmarks/bench_*.py) and print its table.

Each module exposes ``main()``; benchmarks print ratios against a baseline measured in the
same run (bare onnxruntime, plain ``model.fit``), never absolute pass/fail timings.
Run one with ``python -m tests.benchmarks training`` (the part after ``bench_``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(selected: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected]
    failed = []
    for name in names:
        print(f"\n=== {name.removeprefix('bench_')} ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"tests.benchmarks.{name}").main()
        except Exception as e:  # one broken benchmark must not hide the others' tables
            print(f"{name} failed: {type(e).__name__}: {e}", flush=True)
            failed.append(name)
        print(f"({name} took {time.perf_counter() - started:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
