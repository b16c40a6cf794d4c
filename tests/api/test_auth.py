from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.auth import passwords, totp, users
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


def enable_totp(api, headers) -> tuple[str, str]:
    """Enrol and confirm TOTP through the API; returns the secret and the code the confirmation used up."""
    secret = api.post("/auth/totp/enroll", headers=headers).json()["secret"]
    code = totp.code_at(secret, time.time())
    confirmed = api.post("/auth/totp/confirm", json={"code": code}, headers=headers)
    assert confirmed.status_code == 200 and confirmed.json()["totp_enabled"] is True
    return secret, code


def test_totp_enrolment_then_required(api, admin_headers):
    assert api.post("/auth/totp/enroll", headers=admin_headers).status_code == 200
    assert api.post("/auth/totp/confirm", json={"code": "000000"}, headers=admin_headers).status_code == 400
    secret, _ = enable_totp(api, admin_headers)
    assert api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 401
    wrong = api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD, "totp": "123456"})
    assert wrong.status_code == 401
    # The next step's code: within the one step of drift accepted, and not used yet.
    assert login(api, totp=totp.code_at(secret, time.time() + totp.STEP))


def test_each_one_time_code_is_accepted_once(api, admin_headers):
    secret, enrolment_code = enable_totp(api, admin_headers)
    used_at_enrolment = api.post(
        "/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD, "totp": enrolment_code}
    )
    assert used_at_enrolment.status_code == 401
    code = totp.code_at(secret, time.time() + totp.STEP)
    assert login(api, totp=code)
    replayed = api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD, "totp": code})
    assert replayed.status_code == 401


def test_one_code_in_a_parallel_burst_signs_in_once(store):
    secret = users.start_totp_enrolment(store, "admin")
    assert users.confirm_totp_enrolment(store, "admin", totp.code_at(secret, time.time()))
    code = totp.code_at(secret, time.time() + totp.STEP)
    outcomes = parallel_logins(store, ADMIN_PASSWORD, code, attempts=4)
    assert outcomes.count("signed in") == 1, outcomes


def test_a_right_password_without_its_code_answers_like_a_wrong_password(api, admin_headers):
    enable_totp(api, admin_headers)
    answers = [
        api.post("/auth/login", json={"username": "admin", "password": password, **extra})
        for password, extra in (
            (ADMIN_PASSWORD, {}),
            ("not the password at all", {}),
            ("not the password at all", {"totp": "123456"}),
            (ADMIN_PASSWORD, {"totp": "12345"}),
        )
    ]
    assert {answer.status_code for answer in answers} == {401}
    assert [answer.json() for answer in answers] == [{"detail": "invalid username, password or one-time code"}] * 4


def parallel_logins(store, password: str, code: str | None, attempts: int) -> list[str]:
    """`attempts` logins released at the same moment, each on its own connection, as parallel requests are."""
    start = threading.Barrier(attempts)

    def attempt(_: int) -> str:
        start.wait()
        try:
            users.authenticate(store, "admin", password, code)
        except users.LoginRejected:
            return "rejected"
        except users.AccountLocked:
            return "locked"
        return "signed in"

    with ThreadPoolExecutor(attempts) as pool:
        return list(pool.map(attempt, range(attempts)))


def test_a_parallel_burst_of_guesses_gets_the_free_attempts_and_no_more(store):
    outcomes = parallel_logins(store, "a wrong guess, again", None, attempts=16)
    assert outcomes.count("rejected") == users.FREE_ATTEMPTS, outcomes
    assert outcomes.count("locked") == 16 - users.FREE_ATTEMPTS


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
    # A demotion ends the tokens already issued: the next request needs a new login, with the new role.
    assert api.patch("/users/ana", json={"role": "viewer"}, headers=admin_headers).status_code == 200
    demoted = api.put("/alerts/x", json={"status": "reviewed"}, headers=analyst)
    assert demoted.status_code == 401 and "log in again" in demoted.json()["detail"]
    viewer = login(api, "ana", "analyst password 1")
    assert api.put("/alerts/x", json={"status": "reviewed"}, headers=viewer).status_code == 403
    api.patch("/users/ana", json={"disabled": True}, headers=admin_headers)
    assert api.get("/alerts/", headers=viewer).status_code == 401


def create(api, admin_headers, username: str, password: str, role: str):
    body = {"username": username, "password": password, "role": role}
    return api.post("/users", json=body, headers=admin_headers)


def test_a_password_change_ends_the_accounts_tokens(api, admin_headers):
    assert create(api, admin_headers, "ana", "analyst password 1", "analyst").status_code == 201
    token = login(api, "ana", "analyst password 1")
    assert api.get("/alerts/", headers=token).status_code == 200
    changed = api.patch("/users/ana", json={"password": "a brand new passphrase 7"}, headers=admin_headers)
    assert changed.status_code == 200
    stale = api.get("/alerts/", headers=token)
    assert stale.status_code == 401 and "password, role or status changed" in stale.json()["detail"]
    assert api.get("/alerts/", headers=login(api, "ana", "a brand new passphrase 7")).status_code == 200


def test_a_disabled_accounts_tokens_stay_dead_once_it_is_enabled_again(api, admin_headers):
    assert create(api, admin_headers, "ana", "analyst password 1", "analyst").status_code == 201
    token = login(api, "ana", "analyst password 1")
    api.patch("/users/ana", json={"disabled": False}, headers=admin_headers)  # no change: the token lives on
    assert api.get("/alerts/", headers=token).status_code == 200
    api.patch("/users/ana", json={"disabled": True}, headers=admin_headers)
    api.patch("/users/ana", json={"disabled": False}, headers=admin_headers)
    assert api.get("/alerts/", headers=token).status_code == 401
    assert api.get("/alerts/", headers=login(api, "ana", "analyst password 1")).status_code == 200


def test_a_deleted_viewers_token_does_not_work_for_an_admin_of_the_same_name(api, admin_headers):
    assert create(api, admin_headers, "vic", "viewer password 123", "viewer").status_code == 201
    old_token = login(api, "vic", "viewer password 123")
    assert api.delete("/users/vic", headers=admin_headers).status_code == 200
    assert create(api, admin_headers, "vic", "now an admin password 9", "admin").status_code == 201
    assert api.get("/users", headers=old_token).status_code == 401
    assert api.get("/users", headers=login(api, "vic", "now an admin password 9")).status_code == 200


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("aaaaaaaaaa", "at least 12 characters long"),
        ("password12", "at least 12 characters long"),
        (" " * 10, "at least 12 characters long"),
        (" " * 12, "only spaces"),
        ("aaaaaaaaaaaa", "repeats one character or group"),
        ("love love love", "repeats one character or group"),
        ("password1234", "list of 30,000 common, leaked passwords"),
        ("Summer2024!!!", "common, leaked password with digits, symbols or spaces added"),
        ("abcdefghijklmn", "run of neighbouring characters"),
        ("123456789012", "run of neighbouring characters"),
        ("qwertyuiopasdf", "run of neighbouring characters"),
        ("paul-is-paul-12", "besides the username"),
        ("NetSenX-box-01", "besides the username and the product's name"),
    ],
)
def test_the_password_policy_refuses_weak_passwords_and_says_why(api, admin_headers, password, why):
    refused = create(api, admin_headers, "paul", password, "viewer")
    assert refused.status_code == 400 and set(refused.json()) == {"detail"}
    assert refused.json()["detail"].startswith("password: ") and why in refused.json()["detail"]
    assert create(api, admin_headers, "paul", "a good viewer passphrase", "viewer").status_code == 201
    changed = api.patch("/users/paul", json={"password": password}, headers=admin_headers)
    assert changed.status_code == 400 and why in changed.json()["detail"]


def test_the_common_password_list_ships_with_the_package():
    listed = passwords.common_passwords()
    assert len(listed) == 30_000 and {"password", "123456", "iloveyou"} <= listed
    passwords.check_strength(ADMIN_PASSWORD, "admin")  # the fixtures' passphrase passes


def test_token_responses_are_never_cached(api, admin_headers):
    assert api.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).headers[
        "cache-control"
    ] == "no-store"
    assert api.post("/auth/totp/enroll", headers=admin_headers).headers["cache-control"] == "no-store"


def test_the_last_admin_cannot_be_removed(api, admin_headers):
    response = api.delete("/users/admin", headers=admin_headers)
    assert response.status_code == 400 and "admin" in response.json()["detail"]
    assert api.get("/users", headers=admin_headers).json()["total"] == 1
