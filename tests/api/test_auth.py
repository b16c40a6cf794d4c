from __future__ import annotations

import time

from appliance.auth import totp, users
from tests.conftest import ADMIN_PASSWORD, login


def test_login_returns_a_bearer_token(api):
    response = api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 900 and body["access_token"].count(".") == 2


def test_every_other_endpoint_needs_a_valid_token(api):
    for path in ("/alerts/", "/settings/whitelist", "/settings/audit-log", "/users", "/auth/me"):
        response = api.get(path)
        assert response.status_code == 401 and "bearer" in response.json()["detail"], path
    forged = api.get("/alerts/", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"})
    assert forged.status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(api):
    wrong = api.post("/auth/login", json={"username": "admin", "password": "not it at all"})
    unknown = api.post("/auth/login", json={"username": "nobody", "password": "not it at all"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_lockout_with_back_off_then_recovery(api, store):
    for _ in range(users.FREE_ATTEMPTS):
        assert api.post("/auth/login", json={"username": "admin", "password": "guess guess"}).status_code == 401
    locked = api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert locked.status_code == 423 and "locked" in locked.json()["detail"]
    assert int(locked.headers["retry-after"]) <= users.FIRST_LOCK_SECONDS + 1
    assert users.lock_seconds(users.FREE_ATTEMPTS + 1) == 2 * users.lock_seconds(users.FREE_ATTEMPTS)
    store.execute("UPDATE users SET locked_until = 0")  # the lock has run out
    assert api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    failed = [
        e["action"] for e in api.get("/settings/audit-log", params={"limit": 100}, headers=login(api)).json()["entries"]
    ]
    assert failed.count("login.failed") == users.FREE_ATTEMPTS and "login.locked" in failed


def test_totp_enrolment_then_required(api, admin_headers):
    secret = api.post("/auth/totp/enroll", headers=admin_headers).json()["secret"]
    assert api.post("/auth/totp/confirm", json={"code": "000000"}, headers=admin_headers).status_code == 400
    confirmed = api.post("/auth/totp/confirm", json={"code": totp.code_at(secret, time.time())}, headers=admin_headers)
    assert confirmed.status_code == 200 and confirmed.json()["totp_enabled"] is True
    without = api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert without.status_code == 401 and "one-time code" in without.json()["detail"]
    wrong = api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD, "totp": "123456"})
    assert wrong.status_code == 401
    assert login(api, totp=totp.code_at(secret, time.time()))


def test_logout_revokes_the_token(api, admin_headers):
    assert api.post("/auth/logout", headers=admin_headers).status_code == 200
    response = api.get("/alerts/", headers=admin_headers)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_roles_and_user_management(api, admin_headers):
    created = api.post(
        "/users", json={"username": "ana", "password": "analyst password 1", "role": "analyst"}, headers=admin_headers
    )
    assert created.status_code == 201 and created.json()["role"] == "analyst"
    analyst = login(api, "ana", "analyst password 1")
    assert api.get("/users", headers=analyst).status_code == 403
    assert api.get("/settings/audit-log", headers=analyst).status_code == 403
    assert (
        api.post("/users", json={"username": "x", "password": "short", "role": "viewer"}, headers=admin_headers)
        .json()["detail"]
        .startswith("password")
    )
    assert (
        api.post(
            "/users", json={"username": "y", "password": "long enough pw", "role": "root"}, headers=admin_headers
        ).status_code
        == 400
    )
    # Demotion and disabling take effect on tokens already issued.
    api.patch("/users/ana", json={"role": "viewer"}, headers=admin_headers)
    assert api.put("/alerts/x", json={"status": "reviewed"}, headers=analyst).status_code == 403
    api.patch("/users/ana", json={"disabled": True}, headers=admin_headers)
    assert api.get("/alerts/", headers=analyst).status_code == 401


def test_the_last_admin_cannot_be_removed(api, admin_headers):
    response = api.delete("/users/admin", headers=admin_headers)
    assert response.status_code == 400 and "admin" in response.json()["detail"]
    assert api.get("/users", headers=admin_headers).json()["total"] == 1
