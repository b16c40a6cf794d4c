"""The box image installs the `netsenx-appliance` wheel, which holds `appliance` and `sensor` only: nothing the
box runs may import what builds models (model_building) or what the vendor runs (vendor_cloud)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_ON_THE_BOX = {"model_building", "vendor_cloud"}
# `appliance train-model` imports model building when asked, and says so when it is not installed.
ALLOWED = {("appliance/cli/engine_commands.py", "model_building")}


def _imported_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_box_wheel_holds_only_what_runs_on_the_box():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["appliance*", "sensor*"]
    assert "appliance-licensing" not in project["project"]["scripts"]


def test_nothing_on_the_box_imports_model_building_or_the_vendor_cloud():
    offending = sorted(
        (str(source.relative_to(ROOT)), package)
        for top in ("appliance", "sensor")
        for source in (ROOT / top).rglob("*.py")
        for package in _imported_packages(source) & NOT_ON_THE_BOX
        if (str(source.relative_to(ROOT)), package) not in ALLOWED
    )
    assert offending == []
