"""Benchmark-only instrumentation: when ``KILN_BENCH_TIMES`` names a directory, every Python
process that imports Keras (the plain-fit process, each Ray Train worker) appends wall-clock
timestamps of ``model.fit``'s epoch begins, first training step and end to
``$KILN_BENCH_TIMES/<pid>.jsonl``.

It is put on ``PYTHONPATH`` by ``bench_training`` only, so the plain run and every version of
``kiln train`` (the current tree, or an older ref from ``--compare-ref``) are timed by the same
code, with nothing added to Kiln itself. Keras is patched only once it has been imported:
processes that never import it (Ray's own daemons) pay nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import time

OUT = os.environ.get("KILN_BENCH_TIMES")


def _write(event: str, **fields: object) -> None:
    line = json.dumps({"event": event, "t": time.time(), **fields})
    with open(os.path.join(OUT or ".", f"{os.getpid()}.jsonl"), "a") as sink:
        sink.write(line + "\n")


def _patch(keras: object) -> None:
    model = keras.Model  # type: ignore[attr-defined]
    base = keras.callbacks.Callback  # type: ignore[attr-defined]

    class EpochClock(base):  # type: ignore[misc, valid-type]
        stepped = False

        def on_epoch_begin(self, epoch, logs=None):
            _write("epoch_begin", epoch=epoch)

        def on_train_batch_begin(self, batch, logs=None):
            if not self.stepped:
                self.stepped = True
                _write("first_step")

        def on_train_end(self, logs=None):
            _write("fit_end")

    original = model.fit

    def fit(self, *args, **kwargs):
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), EpochClock()]
        return original(self, *args, **kwargs)

    model.fit = fit


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Wraps the spec of ``keras`` so the patch runs right after the module is executed.

    It stays installed until then: TensorFlow asks ``find_spec("keras")`` without importing.
    """

    searching = False

    def find_spec(self, name, path=None, target=None):
        if name != "keras" or self.searching:
            return None
        self.searching = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.searching = False
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module
        finder = self

        def exec_module(module):
            load(module)
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
            _patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if OUT:
    sys.meta_path.insert(0, _AfterKerasImport())
