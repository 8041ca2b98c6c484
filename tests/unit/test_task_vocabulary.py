"""The task vocabulary (``kiln.tasks``) is the one list of tasks and layouts: every per-task or
per-layout room in the code, the CRDs and the examples covers exactly what it names.

Adding a task is a checklist: add its ``TaskSpec`` (and any new ``LayoutSpec``) to
``kiln.tasks``, then run this test; it fails once, naming every room still missing it.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import get_args

import yaml

from kiln import tasks

ROOT = Path(__file__).resolve().parents[2]


def _table(module: str, name: str) -> Callable[[], Iterable[str]]:
    return lambda: getattr(importlib.import_module(module), name)


def _demo_plans(budget: str) -> Callable[[], Iterable[str]]:
    return lambda: importlib.import_module("kiln.demo.plan").plans_by_task(budget)


def _catalog_tasks() -> Iterable[str]:
    from kiln.models.catalog import ARCHITECTURES

    return {arch.task for arch in ARCHITECTURES.values()}


def _crd_enum(path: str) -> Callable[[], Iterable[str]]:
    def read() -> Iterable[str]:
        crd = yaml.safe_load((ROOT / path).read_text())
        (version,) = crd["spec"]["versions"]
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        return spec["properties"]["task"]["enum"]

    return read


def _examples(kind: str) -> Callable[[], Iterable[str]]:
    def read() -> Iterable[str]:
        docs = [
            doc
            for path in sorted((ROOT / "infra" / "examples").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
        ]
        return {doc["spec"]["task"] for doc in docs if doc["kind"] == kind}

    return read


def _documented_routes() -> Iterable[str]:
    """The tasks docs/api.md shows a /v1/<task>/predict request for."""
    text = (ROOT / "docs" / "api.md").read_text()
    return set(re.findall(r"/v1/([a-z_]+)/predict", text)) - {"task"}


# (room, what it holds per task, how to read the tasks it covers)
TASK_ROOMS: list[tuple[str, str, Callable[[], Iterable[str]]]] = [
    (
        "kiln.tasks.Task",
        "the Literal type every config validates against",
        lambda: get_args(tasks.Task),
    ),
    ("kiln.models.catalog.ARCHITECTURES", "at least one architecture row", _catalog_tasks),
    (
        "kiln.training.evaluation.METRICS",
        "the test metrics in the task's own terms",
        _table("kiln.training.evaluation", "METRICS"),
    ),
    (
        "kiln.tuning.config.TASK_METRICS",
        "the metrics a search may rank trials by",
        _table("kiln.tuning.config", "TASK_METRICS"),
    ),
    (
        "kiln.serving.v1.formats.FORMATS",
        "the /v1 format: request body to batch, outputs to answer, its OpenAPI models",
        _table("kiln.serving.v1.formats", "FORMATS"),
    ),
    (
        "kiln.commands.predict.DESCRIBE",
        "how `kiln predict` prints an answer",
        _table("kiln.commands.predict", "DESCRIBE"),
    ),
    ("kiln.demo.plan.plans_by_task('quick')", "what `kiln demo` trains", _demo_plans("quick")),
    ("kiln.demo.plan.plans_by_task('tiny')", "what the demo test trains", _demo_plans("tiny")),
    (
        "kiln.demo.report.SCORES",
        "the demo's served metric and baseline",
        _table("kiln.demo.report", "SCORES"),
    ),
    ("kiln.demo.run.PLOTS", "the demo's plot of served answers", _table("kiln.demo.run", "PLOTS")),
    *(
        (path, "the CRD's spec.task enum", _crd_enum(path))
        for path in (
            "operators/kiln_operator/crds/kiln.dev_trainingjobs.yaml",
            "operators/kiln_operator/crds/kiln.dev_modeldeployments.yaml",
            "charts/kiln/crds/kiln.dev_trainingjobs.yaml",
            "charts/kiln/crds/kiln.dev_modeldeployments.yaml",
        )
    ),
    ("docs/api.md", "an example request to /v1/<task>/predict", _documented_routes),
    *(
        (f"infra/examples (kind {kind})", f"an example {kind}", _examples(kind))
        for kind in ("TrainingJob", "ModelDeployment")
    ),
]

LAYOUT_ROOMS: list[tuple[str, str, Callable[[], Iterable[str]]]] = [
    (
        "kiln.tasks.Layout",
        "the Literal type of DatasetInfo.layout",
        lambda: get_args(tasks.Layout),
    ),
    (
        "kiln.data.layout.DETECTORS",
        "how to recognise the layout on disk",
        _table("kiln.data.layout", "DETECTORS"),
    ),
    (
        "kiln.data.loaders.LOADERS",
        "the loader to tf.data splits",
        _table("kiln.data.loaders", "LOADERS"),
    ),
    (
        "kiln.data.synthetic.WRITERS",
        "the synthetic writer of the real layout",
        _table("kiln.data.synthetic", "WRITERS"),
    ),
]


# Rooms keyed by architecture (a catalog row): adding an architecture is its builder, its row
# in kiln.models.catalog, and these.
ARCHITECTURE_ROOMS: list[tuple[str, str, Callable[[], Iterable[str]]]] = [
    (
        "kiln.models.spaces.SPACES",
        "its tunable hyperparameters",
        _table("kiln.models.spaces", "SPACES"),
    ),
]


def checklist(
    rooms: list[tuple[str, str, Callable[[], Iterable[str]]]], names: Iterable[str], what: str
) -> list[str]:
    expected = set(names)
    lines = []
    for room, holds, read in rooms:
        covered = set(read())
        for name in sorted(expected - covered):
            lines.append(f"[ ] {room}: add {what} {name!r} ({holds})")
        for name in sorted(covered - expected):
            lines.append(f"[ ] {room}: {name!r} is not a {what} of kiln.tasks; remove it")
    return lines


def test_every_per_task_and_per_layout_room_covers_the_vocabulary():
    from kiln.models.catalog import ARCHITECTURES

    missing = (
        checklist(TASK_ROOMS, tasks.TASKS, "task")
        + checklist(LAYOUT_ROOMS, tasks.LAYOUTS, "layout")
        + checklist(ARCHITECTURE_ROOMS, ARCHITECTURES, "architecture")
    )
    assert not missing, "rooms still missing (see docs/architecture.md):\n" + "\n".join(missing)


def module_level_tables(names: Iterable[str]) -> set[str]:
    """``module.NAME`` of every module-level dict literal in services/ and operators/ keyed by
    some of ``names`` (found by reading the source, so a new table cannot hide from the
    checklist)."""
    found = set()
    for top in ("services", "operators"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT / top).with_suffix("").parts)
            if module == "kiln.tasks":
                continue
            for node in ast.parse(path.read_text()).body:
                value = getattr(node, "value", None)
                if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(
                    value, ast.Dict
                ):
                    continue
                keys = {k.value for k in value.keys if isinstance(k, ast.Constant)}
                if keys & set(names):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    found |= {f"{module}.{t.id}" for t in targets if isinstance(t, ast.Name)}
    return found


def test_every_table_keyed_by_task_or_layout_is_a_room_of_the_checklist():
    task_rooms = {room for room, _, _ in TASK_ROOMS}
    layout_rooms = {room for room, _, _ in LAYOUT_ROOMS}
    assert module_level_tables(tasks.TASKS) - task_rooms == set(), "add these to TASK_ROOMS"
    assert module_level_tables(tasks.LAYOUTS) - layout_rooms == set(), "add to LAYOUT_ROOMS"


def test_each_layout_belongs_to_one_task_and_each_synthetic_kind_to_one_layout():
    owners = [spec.name for spec in tasks.SPECS.values() for _ in spec.layouts]
    assert len(owners) == len(tasks.LAYOUTS) == len(tasks.SYNTHETIC_KINDS)
    for name, spec in tasks.SPECS.items():
        assert spec.layouts[0].synthetic_kind == name  # `kiln data synth --task NAME` works


def test_the_checklist_names_each_room_a_new_task_still_needs():
    lines = checklist(TASK_ROOMS[:3], [*tasks.TASKS, "audio"], "task")
    assert lines == [f"[ ] {room}: add task 'audio' ({holds})" for room, holds, _ in TASK_ROOMS[:3]]
