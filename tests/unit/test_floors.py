"""Every package and top-level module of ``kiln`` stands on a floor of the import-linter
``layers`` contract (docs/architecture.md), so a new one cannot slip past the arrow unchecked."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def floors() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    names = []
    for floor in layers["layers"]:
        for part in floor.replace(":", "|").split("|"):
            names.append(part.strip().strip("()"))
    return names


def test_every_kiln_package_and_module_is_on_a_floor():
    package = ROOT / "services" / "kiln"
    members = {
        f"kiln.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert members - set(floors()) == set(), "add these to the layers contract in pyproject.toml"


def test_the_architecture_doc_shows_the_same_floors():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [name for name in floors() if name not in text]
    assert not missing, f"docs/architecture.md does not show {missing}"
