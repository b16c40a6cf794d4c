"""The image recipe: clean shell, a dry run that shows the whole build, input it refuses, the files it lays out."""

from __future__ import annotations

import subprocess

import pytest

from tests.images.conftest import IMAGES, MIRROR_IFACES, RECIPE, require_tool, run_recipe

SHELL_SCRIPTS = [RECIPE, IMAGES / "backup" / "nightly-backup", IMAGES / "firstboot" / "provision"]


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: path.name)
def test_shell_scripts_parse_and_pass_shellcheck(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    result = subprocess.run([require_tool("shellcheck"), str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[list[str], object]:
    workdir = tmp_path_factory.mktemp("dry")
    result = run_recipe(
        "--dry-run",
        "--wheelhouse", str(workdir / "wheelhouse"),
        "--rootfs", str(workdir / "rootfs"),
        "--output", str(workdir / "out" / "box.tar.gz"),
        "--mirror-iface", "eth1",
        "--mirror-iface", "eth2",
        "--management-net", "10.9.0.0/16",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines(), workdir


def position(lines: list[str], *fragments: str) -> int:
    """Index of the first line holding every fragment; the test fails if there is none."""
    for index, line in enumerate(lines):
        if all(fragment in line for fragment in fragments):
            return index
    raise AssertionError(f"no step with {fragments}")


def test_dry_run_prints_every_stage_of_the_build_in_order(dry_run):
    lines, _ = dry_run
    steps = [
        ("+ debootstrap", "--variant=minbase", "bookworm", "snapshot.debian.org/archive/debian/20261101T000000Z"),
        ("python3 -m venv /opt/netsenx/venv",),
        ("/opt/netsenx/venv/bin/pip install", "--no-index", "netsenx-appliance"),
        ("compileall", "checked-hash"),
        ("useradd", "netsenx"),
        ("useradd", "netsenx-sensor"),
        ("+ install", "netsenx-api.service"),
        ("+ install", "10-hardening.conf"),
        ("+ write", "/etc/nftables.conf"),
        ("+ nft -c -f", "/etc/nftables.conf"),
        ("+ write", "/etc/sysctl.d/90-netsenx.conf"),
        ("+ write", "91-netsenx-mirror-eth2.conf"),
        ("+ systemctl", "enable", "netsenx-api.service", "netsenx-sensor@eth1.service", "netsenx-sensor@eth2.service"),
        ("+ truncate -s 0", "/etc/machine-id"),
        ("+ tar --create", "--sort=name", "--numeric-owner", "--clamp-mtime"),
    ]
    indices = [position(lines, *step) for step in steps]
    assert indices == sorted(indices)


def test_the_build_says_which_stage_of_how_many_it_is_in_and_how_long_each_took(dry_run):
    lines, _ = dry_run
    stages = ["bootstrap", "project", "users", "files", "enable", "finalize"]
    started = [line for line in lines if line.startswith("== [") and not line.endswith(" s")]
    finished = [line for line in lines if line.startswith("== [") and line.endswith(" s")]
    assert started == [f"== [{number}/6] {stage}" for number, stage in enumerate(stages, 1)]
    assert [line.rsplit(" done in ", 1)[0] for line in finished] == started
    assert all(line.rsplit(" ", 2)[1].isdigit() for line in finished)


def test_dry_run_shows_the_settings_in_the_rendered_files(dry_run):
    lines, _ = dry_run
    assert "|   define management_networks_v4 = { 10.9.0.0/16 }" in lines
    assert '|   define mirror_interfaces = { "eth1", "eth2" }' in lines
    assert "|   net/ipv4/conf/eth2/arp_ignore = 8" in lines
    assert "|   net.ipv4.ip_forward = 0" in lines


def test_dry_run_touches_nothing(dry_run):
    _, workdir = dry_run
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--mirror-iface", 'eth1"; accept'], "is not an interface name"),
        (["--management-net", "10.0.0.0/8 } accept {"], "is not an IPv4 CIDR"),
        (["--only", "everything"], "is not a stage"),
        (["--snapshot", "yesterday"], "is not like 20261101T000000Z"),
        (["--bogus"], "unknown argument '--bogus'"),
        (["--wheelhouse"], "--wheelhouse needs a value"),
        ([], "--wheelhouse DIR is required"),
    ],
)
def test_bad_settings_are_one_clear_line_and_nothing_runs(arguments, message):
    result = run_recipe("--dry-run", *arguments)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_files_stage_lays_out_units_scripts_and_network_settings(files_root):
    units = files_root / "usr/lib/systemd/system"
    expected_units = {
        "netsenx-api.service", "netsenx-engine.service", "netsenx-sensor@.service", "netsenx-backup.service",
        "netsenx-backup.timer", "netsenx-firstboot.service", "netsenx.slice",
    }  # fmt: skip
    assert expected_units <= {path.name for path in units.iterdir()}
    assert (units / "netsenx-.service.d/10-hardening.conf").is_file()
    for script in ("nightly-backup", "provision"):
        assert (files_root / "usr/lib/netsenx" / script).stat().st_mode & 0o777 == 0o755
    assert (files_root / "etc/netsenx").stat().st_mode & 0o777 == 0o700
    for iface in MIRROR_IFACES:
        sysctls = (files_root / f"etc/sysctl.d/91-netsenx-mirror-{iface}.conf").read_text()
        assert f"net/ipv4/conf/{iface}/arp_ignore = 8" in sysctls
        network = (files_root / f"etc/systemd/network/10-netsenx-mirror-{iface}.network").read_text()
        assert f"Name={iface}" in network and "DHCP=no" in network and "LinkLocalAddressing=no" in network
