"""`appliance --help`, every command's help and the light commands start without the heavy libraries the
other commands need (numba, scikit-learn, sqlite-utils, fpdf, ...): they used to take most of a second of each
start. Checked in a fresh process, by what it has imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from appliance.cli.main import COMMAND_MODULES

HEAVY = ("numba", "sklearn", "shap", "sqlite_utils", "pandas", "fpdf", "pypdf", "litestar", "scapy", "numpy", "rich")
PROBE = f"""
import contextlib, io, json, sys
from appliance.cli.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({{"code": code, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def imported_by(*arguments: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


# train-model's options live with the training code (model_building), which its help imports.
@pytest.mark.parametrize("command", [[]] + [[name] for name in COMMAND_MODULES if name != "train-model"],
                         ids=lambda command: command[0] if command else "appliance")
def test_help_imports_none_of_the_heavy_libraries(command):
    assert imported_by(*command, "--help") == {"code": 0, "heavy": []}


def test_light_commands_run_without_the_heavy_libraries(tmp_path):
    trail = tmp_path / "trail.json"
    trail.write_text("{}")
    assert imported_by("seal", "--data-dir", str(tmp_path)) == {"code": 0, "heavy": []}
    assert imported_by("traces", "verify", str(trail)) == {"code": 1, "heavy": []}  # checked, found wanting
    assert imported_by("erase", "--data-dir", str(tmp_path)) == {"code": 1, "heavy": []}  # refused unconfirmed
