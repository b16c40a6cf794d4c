"""The box's own scripts, run for real against real encrypted data directories with the real `appliance`."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.licensing.keys import License, encode_license, key_id, public_key_text
from appliance.licensing.plans import PLAN_FEATURES
from tests.images.conftest import IMAGES

PROVISION = IMAGES / "firstboot" / "provision"
NIGHTLY_BACKUP = IMAGES / "backup" / "nightly-backup"
APPLIANCE = str(Path(sys.executable).with_name("appliance"))
PASSWORD = "a long admin password 4 the box"


def run_script(script: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NETSENX_APPLIANCE": APPLIANCE, **environment}
    return subprocess.run(["bash", str(script), *arguments], capture_output=True, text=True, env=env, timeout=60)


class Box:
    """Where a provisioning run reads and writes, all under one temporary folder."""

    def __init__(self, root: Path):
        self.provision_file = root / "etc" / "provision.conf"
        self.data_dir = root / "var" / "netsenx"
        self.sensor_env = root / "etc" / "sensor.env"
        self.provision_file.parent.mkdir(parents=True)

    def provision(self, content: str, **environment: str) -> subprocess.CompletedProcess:
        self.provision_file.write_text(content)
        self.provision_file.chmod(0o600)
        return run_script(
            PROVISION,
            NETSENX_PROVISION_FILE=str(self.provision_file),
            NETSENX_DATA_DIR=str(self.data_dir),
            NETSENX_SENSOR_ENV=str(self.sensor_env),
            NETSENX_SERVICE_USER=pwd.getpwuid(os.getuid()).pw_name,
            **environment,
        )


@pytest.fixture
def box(tmp_path) -> Box:
    return Box(tmp_path)


@pytest.fixture
def vendor_license() -> tuple[str, str]:
    """(license key, the vendor public key the box must trust for it)."""
    vendor = Ed25519PrivateKey.generate()
    now = int(time.time())
    license = License(
        license_id="lic_image0001",
        customer="Image Test GmbH",
        plan="professional",
        features=PLAN_FEATURES["professional"],
        max_sensors=2,
        issued_at=now - 86_400,
        expires_at=now + 30 * 86_400,
        key_id=key_id(vendor.public_key()),
    )
    return encode_license(license, vendor), public_key_text(vendor.public_key())


def test_provisioning_initialises_installs_the_license_and_destroys_the_file(box, vendor_license):
    license_key, vendor_public_key = vendor_license
    result = box.provision(
        f"# first boot\nADMIN=alice\nPASSWORD={PASSWORD}\nLICENSE_KEY={license_key}\n",
        NETSENX_VENDOR_PUBLIC_KEYS=vendor_public_key,
    )
    assert result.returncode == 0, result.stderr
    assert (box.data_dir / "netsenx.db").is_file()
    assert not box.provision_file.exists()
    assert box.sensor_env.read_text() == f"NETSENX_LICENSE_KEY={license_key}\n"
    assert box.sensor_env.stat().st_mode & 0o777 == 0o600
    shown = subprocess.run(
        [APPLIANCE, "license", "show", "--data-dir", str(box.data_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "NETSENX_VENDOR_PUBLIC_KEYS": vendor_public_key},
    )
    assert "lic_image0001" in shown.stdout, shown.stderr


def test_provisioning_with_a_passphrase_makes_a_sealed_box(box):
    result = box.provision(f"ADMIN=alice\nPASSWORD={PASSWORD}\nPASSPHRASE=open sesame, but longer\n")
    assert result.returncode == 0, result.stderr
    assert "sealed (passphrase)" in result.stdout
    assert not (box.data_dir / "keys" / "data.key").exists()
    assert not box.sensor_env.exists()


def test_an_initialised_box_is_never_provisioned_again(box):
    assert box.provision(f"ADMIN=alice\nPASSWORD={PASSWORD}\n").returncode == 0
    database = (box.data_dir / "netsenx.db").read_bytes()
    again = box.provision(f"ADMIN=mallory\nPASSWORD={PASSWORD}\n")
    assert again.returncode == 1
    assert "already initialised" in again.stderr
    assert (box.data_dir / "netsenx.db").read_bytes() == database


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"ADMIN=alice\nPASSWORD={PASSWORD}\nCOLOUR=blue\n", "unknown line"),
        ("ADMIN=alice\n", "sets no PASSWORD"),
        (f"PASSWORD={PASSWORD}\n", "sets no ADMIN"),
        ("ADMIN=alice\nPASSWORD=short\n", "appliance init: error"),
    ],
)
def test_a_bad_provisioning_file_is_a_clear_error_and_kept_for_fixing(box, content, message):
    result = box.provision(content)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert box.provision_file.exists()
    assert not (box.data_dir / "netsenx.db").exists()


@pytest.fixture
def provisioned(box) -> Box:
    assert box.provision(f"ADMIN=alice\nPASSWORD={PASSWORD}\n").returncode == 0
    return box


def test_nightly_backup_keeps_the_newest_and_they_restore(provisioned, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    environment = {"NETSENX_BACKUP_DIR": str(backups), "NETSENX_BACKUP_KEEP": "2"}
    made = []
    for _ in range(3):
        result = run_script(NIGHTLY_BACKUP, str(provisioned.data_dir), **environment)
        assert result.returncode == 0, result.stderr
        made.append(sorted(backups.iterdir())[-1].name)
    assert sorted(path.name for path in backups.iterdir()) == made[1:]
    restored = subprocess.run(
        [APPLIANCE, "restore", "--data-dir", str(provisioned.data_dir), "--from", str(backups / made[-1])],
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr


def test_failed_backup_leaves_no_partial_file(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    result = run_script(NIGHTLY_BACKUP, str(tmp_path / "not-a-box"), NETSENX_BACKUP_DIR=str(backups))
    assert result.returncode != 0
    assert "run `appliance init` first" in result.stderr
    assert list(backups.iterdir()) == []


@pytest.mark.parametrize("keep", ["0", "-1", "seven"])
def test_backup_refuses_a_retention_that_would_delete_everything(provisioned, tmp_path, keep):
    result = run_script(
        NIGHTLY_BACKUP, str(provisioned.data_dir), NETSENX_BACKUP_DIR=str(tmp_path), NETSENX_BACKUP_KEEP=keep
    )
    assert result.returncode == 2
    assert "NETSENX_BACKUP_KEEP" in result.stderr
