"""A clone is self-contained: nothing in the repository reads or points at the folder that sat
beside it while Kiln was built (`../shared`). What the project needs from there is vendored with
its source named (tests/fixtures/kuberay-crds/README.md, docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("services", "operators", "tests", "docs", "charts", "infra")
OUTSIDE = ("../shared", "/work/shared", 'parent / "shared"')


def text_files():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in {
                ".py",
                ".md",
                ".yaml",
                ".yml",
                ".json",
                ".tpl",
                ".txt",
                ".sh",
            }:
                yield path
    yield from (ROOT / name for name in ("README.md", "Makefile", "pyproject.toml"))


def test_no_file_refers_to_the_folder_beside_the_repository():
    this = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in text_files()
        if path.resolve() != this
        for needle in OUTSIDE
        if needle in path.read_text(errors="replace")
    ]
    assert not found, found
