"""The README's shown resources and commands are the real ones, so it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kiln.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_kubernetes_example_is_the_shipped_example():
    (block,) = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    shown = list(yaml.safe_load_all(block))
    shipped = list(yaml.safe_load_all((ROOT / "infra/examples/forecasting.yaml").read_text()))
    assert shown == shipped


def test_readme_names_every_kiln_command():
    for name in COMMANDS:
        assert f"`kiln {name}" in README, f"README does not show `kiln {name}`"


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to missing {target}"
