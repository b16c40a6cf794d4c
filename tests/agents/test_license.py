"""The box's license: GET/PUT /license, `appliance license install|show`, and the report gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from litestar.exceptions import PermissionDeniedException

from appliance.api.errors import Locked
from appliance.audit import log as audit
from appliance.auth import users
from appliance.cli.main import main as appliance_main
from appliance.licensing import box_license
from appliance.licensing.keys import license_file_text
from tests.agents.licensed_box import DAY
from tests.conftest import login


def test_license_api_shows_installs_and_refuses_bad_keys(api, store, admin_headers, current_license, make_license):
    license, key = current_license
    empty = api.get("/license", headers=admin_headers).json()
    assert empty["installed"] is False and "PUT /api/v1/license" in empty["hint"]
    installed = api.put("/license", headers=admin_headers, json={"license_key": key})
    assert installed.status_code == 200
    body = installed.json()
    assert body["license"]["license_id"] == license.license_id and body["status"] == "valid"
    assert body["source"] == "admin" and body["sensors_registered"] == 0
    assert [e.action for e in audit.page(store, 10, 0)[0]].count("license.installed") == 1
    bad = api.put("/license", headers=admin_headers, json={"license_key": "nsx_not.a-key"})
    assert bad.status_code == 400 and "license key" in bad.json()["detail"]
    _, older = make_license(issued_at=license.issued_at - DAY, expires_at=license.expires_at)
    rollback = api.put("/license", headers=admin_headers, json={"license_key": older})
    assert rollback.status_code == 400 and "older issue" in rollback.json()["detail"]
    assert api.get("/license", headers=admin_headers).json()["license"]["issued_at"] == license.issued_at


def test_only_admins_install_but_viewers_may_look(api, store, current_license):
    users.create_user(store, "vera", "viewer password 123", "viewer")
    viewer = login(api, "vera", "viewer password 123")
    assert api.get("/license", headers=viewer).status_code == 200
    assert api.put("/license", headers=viewer, json={"license_key": current_license[1]}).status_code == 403


def test_cli_installs_a_key_or_a_file_and_shows_it(store, data_dir, current_license, tmp_path, capsys):
    license, key = current_license
    license_file = tmp_path / "acme.license"
    license_file.write_text(license_file_text(key, license))
    assert appliance_main(["license", "install", str(license_file), "--data-dir", str(data_dir.root)]) == 0
    assert f"license {license.license_id} (professional, up to 2 sensors) installed" in capsys.readouterr().out
    assert appliance_main(["license", "install", key, "--data-dir", str(data_dir.root)]) == 0
    assert "was already installed" in capsys.readouterr().out
    assert appliance_main(["license", "show", "--json", "--data-dir", str(data_dir.root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["installed"] and shown["status"] == "valid" and shown["license"]["customer"] == license.customer
    assert appliance_main(["license", "show", "--data-dir", str(data_dir.root)]) == 0
    assert "sensors     0 of 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argument, message",
    [
        ("nsx_tampered.key", "truncated or corrupted"),
        ("/no/such/file", "is neither a license key"),
    ],
)
def test_cli_errors_are_one_line(store, data_dir, trusted_vendor, argument, message):
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "license", "install", argument, "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_report_gate_locks_without_license_and_after_grace(store, make_license, trusted_vendor):
    with pytest.raises(Locked, match="no license is installed"):
        box_license.report_gate(store)
    now = int(time.time())
    _, valid = make_license(issued_at=now - 100 * DAY, expires_at=now + 10 * DAY)
    box_license.install(store, valid, box_license.trusted_keys())
    box_license.report_gate(store)
    box_license.report_gate(store, now=now + 20 * DAY)  # expired, still within the 14-day grace
    with pytest.raises(Locked, match="Renew under Billing"):
        box_license.report_gate(store, now=now + 25 * DAY)
    _, no_reports = make_license(issued_at=now - 99 * DAY, expires_at=now + 10 * DAY, features=())
    box_license.install(store, no_reports, box_license.trusted_keys())
    with pytest.raises(PermissionDeniedException, match="does not include reports"):
        box_license.report_gate(store)


def test_a_stored_key_no_longer_trusted_counts_as_no_license(store, license_key, monkeypatch):
    assert box_license.installed(store, box_license.trusted_keys()) is not None
    monkeypatch.delenv(box_license.VENDOR_KEYS_ENV)  # back to the production vendor key only
    assert box_license.installed(store, box_license.trusted_keys()) is None
