"""Long-lived API tokens: shown once, stored hashed, accepted wherever a user's JWT is, capped by the owner's
role, revocable, expiring, audited, and unable to manage tokens or act as a session."""

from __future__ import annotations

import time

import pytest

from appliance.api_tokens import tokens
from appliance.auth import users
from tests.conftest import login

ANALYST_PASSWORD = "analyst password that is long"


def make_token(api, headers, **body) -> tuple[str, dict]:
    response = api.post("/api-tokens", json={"name": "script", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["token"], response.json()["details"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def analyst(api, store) -> dict[str, str]:
    users.create_user(store, "ana", ANALYST_PASSWORD, "analyst")
    return login(api, "ana", ANALYST_PASSWORD)


def test_a_token_is_shown_once_stored_hashed_and_works_like_a_session(api, admin_headers, store):
    token, details = make_token(api, admin_headers, role="analyst", expires_in_days=30)
    assert token.startswith(f"nsx_pat_{details['id']}_")
    secret = token.rsplit("_", 1)[1]
    assert secret not in api.get("/api-tokens", headers=admin_headers).text
    row = store.query_one("SELECT * FROM api_tokens WHERE id = ?", (details["id"],))
    assert secret not in str(row) and len(row["secret_sha256"]) == 64
    assert api.get("/alerts", headers=bearer(token)).status_code == 200
    assert api.get("/auth/me", headers=bearer(token)).json()["username"] == "admin"
    assert 29 * 86_400 < details["expires_at"] - time.time() <= 30 * 86_400


def test_the_last_use_is_recorded_with_the_address(api, admin_headers, store):
    token, details = make_token(api, admin_headers)
    assert details["last_used_at"] is None
    api.get("/alerts", headers=bearer(token))
    used = store.query_one("SELECT last_used_at, last_used_from FROM api_tokens WHERE id = ?", (details["id"],))
    assert used["last_used_at"] > time.time() - 60 and used["last_used_from"] == "testclient"


def test_a_revoked_or_expired_or_wrong_token_is_refused(api, admin_headers, store):
    token, details = make_token(api, admin_headers)
    revoked = api.delete(f"/api-tokens/{details['id']}", headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    refused = api.get("/alerts", headers=bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    token, details = make_token(api, admin_headers)
    store.execute("UPDATE api_tokens SET expires_at = ? WHERE id = ?", (time.time() - 1, details["id"]))
    assert "expired" in api.get("/alerts", headers=bearer(token)).json()["detail"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api.get("/alerts", headers=bearer(forged)).json()["detail"] == "unknown API token"


def test_a_personal_token_never_has_more_than_its_owner(api, analyst, store):
    assert api.post("/api-tokens", json={"name": "x", "role": "admin"}, headers=analyst).status_code == 403
    assert api.post("/api-tokens", json={"name": "x", "kind": "service"}, headers=analyst).status_code == 403
    token, _ = make_token(api, analyst, role="analyst")
    alert = api.put("/alerts/none", json={"status": "reviewed"}, headers=bearer(token))
    assert alert.status_code == 404  # allowed to try: an analyst may change alerts
    store.execute("UPDATE users SET role = 'viewer' WHERE username = 'ana'")
    demoted = api.put("/alerts/none", json={"status": "reviewed"}, headers=bearer(token))
    assert demoted.status_code == 403 and "you are viewer" in demoted.json()["detail"]


def test_a_disabled_or_deleted_owner_takes_the_token_along_even_if_the_name_comes_back(api, analyst, store):
    token, _ = make_token(api, analyst)
    store.execute("UPDATE users SET disabled = 1 WHERE username = 'ana'")
    assert api.get("/alerts", headers=bearer(token)).status_code == 401
    store.execute("DELETE FROM users WHERE username = 'ana'")
    store.execute("INSERT INTO users (id, username, password_hash, role, created_at) "
                  "VALUES (1000, 'ana', 'x', 'admin', 0)")
    assert api.get("/alerts", headers=bearer(token)).status_code == 401


def test_a_service_token_acts_under_its_own_name_in_the_audit_log(api, admin_headers, store):
    token, details = make_token(api, admin_headers, name="prometheus", kind="service", role="analyst")
    assert details["username"] is None
    added = api.post("/settings/whitelist", json={"cidr": "10.9.9.9", "comment": "scanner"}, headers=bearer(token))
    assert added.status_code == 201
    entry = store.query_one("SELECT username, action FROM audit_log WHERE action = 'whitelist.added'")
    assert entry == {"username": "service:prometheus", "action": "whitelist.added"}


def test_a_token_cannot_manage_tokens_or_act_as_a_session(api, admin_headers):
    token, details = make_token(api, admin_headers, role="admin")
    for method, path in (("GET", "/api-tokens"), ("POST", "/api-tokens"), ("DELETE", f"/api-tokens/{details['id']}"),
                         ("POST", "/auth/logout"), ("POST", "/auth/totp/enroll")):
        response = api.request(method, path, json={"name": "x"} if method == "POST" else None, headers=bearer(token))
        assert response.status_code == 403, (method, path, response.text)
        assert "sign in" in response.json()["detail"]
    service, _ = make_token(api, admin_headers, name="svc", kind="service")
    assert api.get("/auth/me", headers=bearer(service)).status_code == 403


def test_people_see_and_revoke_their_own_tokens_admins_everyones(api, admin_headers, analyst, store):
    _, own = make_token(api, analyst, name="mine")
    _, theirs = make_token(api, admin_headers, name="admin's")
    assert [item["name"] for item in api.get("/api-tokens", headers=analyst).json()["tokens"]] == ["mine"]
    assert api.delete(f"/api-tokens/{theirs['id']}", headers=analyst).status_code == 404
    assert {item["name"] for item in api.get("/api-tokens", headers=admin_headers).json()["tokens"]} == {
        "mine", "admin's"}
    assert api.delete(f"/api-tokens/{own['id']}", headers=admin_headers).status_code == 200
    actions = [row["action"] for row in store.query("SELECT action FROM audit_log WHERE action LIKE 'api_token.%' "
                                                    "ORDER BY id")]
    assert actions == ["api_token.created", "api_token.created", "api_token.revoked"]


def test_requests_with_a_token_are_rate_limited_per_token(api, admin_headers):
    token, _ = make_token(api, admin_headers)
    api.get("/alerts", headers=bearer("nsx_pat_000000000000_" + "A" * 43))  # a wrong one: counted by address
    response = api.get("/alerts", headers=bearer(token))
    # Its own budget: neither the admin's session, nor the address (the login and the wrong token) spent it.
    assert int(response.headers["x-ratelimit-remaining"]) == 99


def test_verify_names_no_part_of_a_wrong_token(store):
    owner = store.query_one("SELECT id, username FROM users WHERE username = 'admin'")
    _, plaintext = tokens.issue(store, name="t", kind="personal", role="viewer", owner=owner, lifetime_days=1,
                                created_by="admin")
    with pytest.raises(tokens.InvalidApiToken, match=r"^unknown API token$"):
        tokens.verify(store, plaintext[:-1] + ("x" if plaintext[-1] != "x" else "y"))
    with pytest.raises(tokens.InvalidApiToken, match=r"^unknown API token$"):
        tokens.verify(store, "nsx_pat_short")
    assert tokens.verify(store, plaintext).role == "viewer"
