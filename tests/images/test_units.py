"""The systemd units: accepted by systemd itself, sandboxed, and running real project commands with real options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.images.conftest import IMAGES, require_tool

UNIT_DIR = Path("usr/lib/systemd/system")
SERVICES = [
    "netsenx-api.service",
    "netsenx-engine.service",
    "netsenx-sensor@eth1.service",
    "netsenx-backup.service",
    "netsenx-firstboot.service",
    "netsenx-notify.service",
    "netsenx-egress.service",
]
VENV_BIN = Path(sys.executable).parent
PROJECT_COMMANDS = {"/opt/netsenx/venv/bin/appliance", "/opt/netsenx/venv/bin/sensor"}


def read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value, in order (systemd keys repeat, so configparser does not fit)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (IMAGES / "systemd" / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def expand_specifiers(command: str) -> str:
    return command.replace("%I", "eth1").replace("%i", "eth1").replace("%H", "box").replace("%d", "/run/creds")


def help_text(program: str, subcommand: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / Path(program).name), subcommand, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def known_and_required_options(help_output: str) -> tuple[set[str], set[str]]:
    usage = help_output.split("\n\n")[0]
    required = set(re.findall(r"--[\w-]+", re.sub(r"\[[^\]]*\]", "", usage)))
    return set(re.findall(r"--[\w-]+", help_output)), required


@pytest.fixture(scope="module")
def verify_root(files_root, tmp_path_factory) -> Path:
    """The recipe's root plus what `systemd-analyze --root` resolves: the base targets and the executables.

    Executables are small wrappers around this test's venv: `--root` resolves symlinks inside the root,
    so a link out to the venv would look missing.
    """
    root = tmp_path_factory.mktemp("verify-root")
    shutil.copytree(files_root, root, dirs_exist_ok=True, symlinks=True)
    shutil.copytree("/usr/lib/systemd/system", root / UNIT_DIR, dirs_exist_ok=True, symlinks=True)
    for program in PROJECT_COMMANDS:
        wrapper = root / program.lstrip("/")
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nexec {VENV_BIN / Path(program).name} "$@"\n')
        wrapper.chmod(0o755)
    (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(require_tool("ip"), root / "usr/sbin/ip")
    return root


def test_systemd_accepts_every_unit_without_a_warning(verify_root):
    units = [*SERVICES, "netsenx-backup.timer", "netsenx.slice", "netsenx-egress.path"]
    result = subprocess.run(
        [require_tool("systemd-analyze"), "verify", f"--root={verify_root}", *units],
        capture_output=True,
        text=True,
        cwd=verify_root / UNIT_DIR,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_systemd_notices_a_misspelt_key(verify_root, tmp_path):
    """Proves the check above reads the units: a typo must show up as a warning."""
    broken = verify_root / UNIT_DIR / "netsenx-typo.service"
    broken.write_text(read_text_with_typo("netsenx-engine.service"))
    try:
        result = subprocess.run(
            [require_tool("systemd-analyze"), "verify", f"--root={verify_root}", broken.name],
            capture_output=True,
            text=True,
            cwd=broken.parent,
            timeout=60,
        )
    finally:
        broken.unlink()
    assert "Unknown key 'ProtectSystm'" in result.stderr


def read_text_with_typo(name: str) -> str:
    return (IMAGES / "systemd" / name).read_text().replace("[Service]", "[Service]\nProtectSystm=strict", 1)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_well_sandboxed(verify_root, service):
    """systemd's own exposure score (0 = locked down, 10 = none): the shared drop-in must apply to each unit."""
    result = subprocess.run(
        [require_tool("systemd-analyze"), "security", "--offline=yes", f"--root={verify_root}", service],
        capture_output=True,
        text=True,
        cwd=verify_root / UNIT_DIR,
        timeout=60,
    )
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout).group(1))
    assert score <= 2.5, result.stdout


@pytest.mark.parametrize("service", [name.replace("@eth1", "@") for name in SERVICES])
def test_project_commands_use_only_options_the_real_command_has(service):
    settings = read_unit(service)["Service"]
    commands = [
        expand_specifiers(command) for key in ("ExecStart", "ExecStopPost") for command in settings.get(key, [])
    ]
    assert commands
    for command in commands:
        program, *arguments = shlex.split(command)
        if program not in PROJECT_COMMANDS:
            assert program.startswith("/usr/lib/netsenx/"), program  # the box's scripts, run in test_box_scripts
            continue
        subcommand = arguments[0]
        known, required = known_and_required_options(help_text(program, subcommand))
        used = {argument for argument in arguments if argument.startswith("--")}
        assert used <= known, f"{service}: {used - known} not in `{Path(program).name} {subcommand} --help`"
        assert required <= used, f"{service}: misses {required - used}"


def test_the_api_seals_the_box_whenever_it_stops():
    """However the API stopped (crash, kill, restart), the unsealed key it shared is wiped after it."""
    api = read_unit("netsenx-api.service")["Service"]
    assert api["ExecStopPost"] == ["/opt/netsenx/venv/bin/appliance seal --data-dir /var/lib/netsenx"]
    assert "seal" in help_text("appliance", "seal")


def test_sensor_keeps_its_license_key_off_the_command_line():
    service = read_unit("netsenx-sensor@.service")["Service"]
    assert "--license-key" not in service["ExecStart"][0]
    assert service["EnvironmentFile"] == ["/etc/netsenx/sensor.env"]
    assert "NETSENX_LICENSE_KEY" in help_text("sensor", "capture")


def test_only_the_sensor_may_open_packet_sockets():
    for service in SERVICES:
        families = read_unit(service.replace("@eth1", "@"))["Service"]["RestrictAddressFamilies"][0].split()
        assert ("AF_PACKET" in families) == service.startswith("netsenx-sensor@"), service


def test_privileges_are_the_ones_each_service_needs():
    expected = {
        "netsenx-api.service": "CAP_NET_BIND_SERVICE",
        "netsenx-engine.service": "",
        "netsenx-sensor@.service": "CAP_NET_RAW CAP_NET_ADMIN",
        "netsenx-backup.service": "",
        "netsenx-notify.service": "",
    }
    for service, capabilities in expected.items():
        settings = read_unit(service)["Service"]
        assert settings["CapabilityBoundingSet"] == [capabilities]
        assert settings.get("AmbientCapabilities", [""]) == [capabilities]
        assert settings["User"] != ["root"]
    # The one root unit: it changes the firewall's egress sets and nothing else.
    egress = read_unit("netsenx-egress.service")["Service"]
    assert egress["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"] and "User" not in egress


def test_shared_sandbox_sets_the_runtime_dir_and_the_memory_budget():
    drop_in = read_unit("netsenx-.service.d/10-hardening.conf")["Service"]
    assert "NETSENX_RUNTIME_DIR=/run/netsenx" in drop_in["Environment"]
    assert drop_in["Slice"] == ["netsenx.slice"]
    for setting in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert drop_in[setting] == ["yes"]
    assert drop_in["ProtectSystem"] == ["strict"]
    assert read_unit("netsenx.slice")["Slice"]["MemoryMax"] == ["1G"]
    # Units that share /run/netsenx keep it when one of them stops (the backup ends every night).
    for service in ("netsenx-api.service", "netsenx-engine.service", "netsenx-backup.service",
                    "netsenx-notify.service"):
        settings = read_unit(service)["Service"]
        assert settings["RuntimeDirectory"] == ["netsenx"]
        assert settings["RuntimeDirectoryPreserve"] == ["yes"]
