"""Fixtures for the box image: the repository's images/ folder and a root filesystem the recipe filled."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parents[2] / "images"
RECIPE = IMAGES / "recipe" / "build-image.sh"
MIRROR_IFACES = ("eth1", "eth2.100")
MANAGEMENT_NET = "10.20.0.0/24"


def require_tool(name: str) -> str:
    """Missing tools fail the test (`just system-packages` installs them); a skip would hide the gap."""
    path = shutil.which(name)
    assert path, f"{name} is not installed: run `just system-packages`"
    return path


def run_recipe(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(RECIPE), *arguments], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def files_root(tmp_path_factory) -> Path:
    """A root filesystem after the recipe's `files` stage, run for real (it also `nft -c` checks the rules)."""
    rootfs = tmp_path_factory.mktemp("rootfs")
    iface_options = [option for iface in MIRROR_IFACES for option in ("--mirror-iface", iface)]
    result = run_recipe("--only", "files", "--rootfs", str(rootfs), "--management-net", MANAGEMENT_NET, *iface_options)
    assert result.returncode == 0, result.stderr
    return rootfs
