"""A user's own account: changing the password, the TOTP QR code made on the box, one-time recovery codes."""

from __future__ import annotations

import time

import segno

from appliance.auth import totp
from tests.conftest import ADMIN_PASSWORD, login

NEW_PASSWORD = "a quieter river at dawn 2026"


def test_changing_ones_own_password_needs_the_current_one_and_ends_older_tokens(api, admin_headers):
    wrong = api.post("/auth/password", json={"current_password": "not my password", "new_password": NEW_PASSWORD},
                     headers=admin_headers)
    assert wrong.status_code == 400 and wrong.json() == {"detail": "current password: not the password of this account"}
    weak = api.post("/auth/password", json={"current_password": ADMIN_PASSWORD, "new_password": "aaaaaaaaaaaa"},
                    headers=admin_headers)
    assert weak.status_code == 400 and weak.json()["detail"].startswith("password: ")
    changed = api.post("/auth/password", json={"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD},
                       headers=admin_headers)
    assert changed.status_code == 200 and "no-store" in changed.headers["cache-control"]
    assert api.get("/auth/me", headers=admin_headers).status_code == 401  # the old session ended
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert api.get("/auth/me", headers=fresh).json()["username"] == "admin"  # the page keeps going with this one
    assert api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 401
    headers = login(api, password=NEW_PASSWORD)
    actions = [entry["action"] for entry in api.get("/settings/audit-log", headers=headers).json()["entries"]]
    assert "password.changed" in actions


def test_the_enrolment_qr_code_is_made_on_the_box_and_holds_the_otpauth_uri(api, admin_headers):
    enrolment = api.post("/auth/totp/enroll", headers=admin_headers).json()
    expected = segno.make(enrolment["otpauth_uri"], error="m", micro=False)
    rows = enrolment["qr_modules"]
    assert len(rows) == len(expected.matrix) and all(len(row) == len(rows) for row in rows)
    assert rows == ["".join(str(module) for module in row) for row in expected.matrix]
    assert f"secret={enrolment['secret']}" in enrolment["otpauth_uri"]


def enrol(api, headers) -> tuple[str, list[str]]:
    secret = api.post("/auth/totp/enroll", headers=headers).json()["secret"]
    confirmed = api.post("/auth/totp/confirm", json={"code": totp.code_at(secret, time.time())}, headers=headers)
    assert confirmed.status_code == 200
    return secret, confirmed.json()["recovery_codes"]


def test_recovery_codes_sign_in_once_each_and_a_new_set_replaces_the_old(api, admin_headers):
    _, codes = enrol(api, admin_headers)
    assert len(codes) == 10 and len(set(codes)) == 10
    first = {"username": "admin", "password": ADMIN_PASSWORD, "recovery_code": codes[0]}
    assert api.post("/auth/login", json=first).status_code == 200
    assert api.post("/auth/login", json=first).status_code == 401  # used up
    retyped = codes[1].upper().replace("-", " ")  # as read aloud or typed from paper
    assert api.post("/auth/login", json={**first, "recovery_code": retyped}).status_code == 200
    headers = login(api, recovery_code=codes[2])
    assert api.get("/auth/me", headers=headers).json()["recovery_codes_left"] == 7
    refused = api.post("/auth/totp/recovery-codes", json={"password": "not my password"}, headers=headers)
    assert refused.status_code == 400
    renewed = api.post("/auth/totp/recovery-codes", json={"password": ADMIN_PASSWORD}, headers=headers)
    assert renewed.status_code == 200 and "no-store" in renewed.headers["cache-control"]
    assert api.post("/auth/login", json={**first, "recovery_code": codes[3]}).status_code == 401  # old set gone
    new_code = renewed.json()["recovery_codes"][0]
    assert api.post("/auth/login", json={**first, "recovery_code": new_code}).status_code == 200
    entries = api.get("/settings/audit-log", params={"limit": 100}, headers=headers).json()["entries"]
    assert any(entry["action"] == "login.succeeded" and entry["details"] == {"second_factor": "recovery_code"}
               for entry in entries)


def test_an_admin_switches_off_a_lost_second_factor_but_cannot_switch_one_on(api, admin_headers):
    assert api.post("/users", json={"username": "bob", "password": NEW_PASSWORD, "role": "analyst"},
                    headers=admin_headers).status_code == 201
    bob = login(api, "bob", NEW_PASSWORD)
    enrol(api, bob)
    assert api.post("/auth/login", json={"username": "bob", "password": NEW_PASSWORD}).status_code == 401
    on = api.patch("/users/bob", json={"totp_enabled": True}, headers=admin_headers)
    assert on.status_code == 400 and "own user" in on.json()["detail"]
    off = api.patch("/users/bob", json={"totp_enabled": False}, headers=admin_headers)
    assert off.status_code == 200 and off.json()["totp_enabled"] is False
    assert api.post("/auth/login", json={"username": "bob", "password": NEW_PASSWORD}).status_code == 200
