"""`make bench`: run every benchmark module (tests/benchmarks/bench_*.py) and print its table.

Each module exposes ``main()``; benchmarks print ratios against a baseline measured in the
same run (bare onnxruntime, plain ``model.fit``), never absolute pass/fail timings.
Run one with ``python -m tests.benchmarks training`` (the part after ``bench_``). Options:
``--quick`` (sets ``KILN_BENCH_QUICK=1``: fewer repeats, smaller data) and ``--compare-ref REF``
(sets ``KILN_BENCH_COMPARE_REF``: benchmarks that support it also run the code at git ref REF).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path


def _options(args: list[str]) -> list[str]:
    """Turn the runner's options into the environment the benchmarks read; return the names."""
    names = []
    while args:
        arg = args.pop(0)
        if arg == "--quick":
            os.environ["KILN_BENCH_QUICK"] = "1"
        elif arg == "--compare-ref" and args:
            os.environ["KILN_BENCH_COMPARE_REF"] = args.pop(0)
        elif arg.startswith("--"):
            raise SystemExit(f"unknown option {arg}; expected --quick or --compare-ref REF")
        else:
            names.append(arg)
    return names


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
    sys.exit(main(_options(sys.argv[1:])))
