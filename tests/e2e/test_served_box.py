"""The real thing: `appliance serve` (Granian, several workers) over a real encrypted data directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from appliance.alerts.repository import insert_alert
from appliance.auth import users
from appliance.server.tls import create_self_signed_certificate
from appliance.store import lifecycle
from appliance.store.database import Store
from tests.conftest import ADMIN_PASSWORD, login

pytestmark = pytest.mark.e2e

CANARY_IP = "203.0.113.251"
CANARY_COMMENT = "ZEBRA-canary-comment-7781"


def test_https_with_the_init_certificate(store, serve, data_dir):
    create_self_signed_certificate(data_dir)
    server = serve(data_dir, https=True, workers=1)
    with server.client() as client:
        health = client.get("/health")
        login_answer = client.post("/auth/login", json={"username": "admin", "password": "a wrong password"})
    assert health.json()["status"] == "ok"
    for response in (health, login_answer):  # errors too: every response over HTTPS
        assert response.headers["strict-transport-security"] == "max-age=31536000"
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=ssl.create_default_context()) as strict:
        strict.get(server.url + "/health")


def test_plain_http_only_on_loopback(store, data_dir):
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "serve", "--data-dir", str(data_dir.root), "--host", "0.0.0.0", "--http"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and "loopback" in result.stderr and result.stderr.count("\n") == 1


def test_known_strings_never_reach_any_file(store, serve, data_dir, tmp_path, isolated_runtime_dir):
    insert_alert(
        store.connection(),
        severity="HIGH",
        rule_name="C2_BEACON",
        source_ip="10.1.1.1",
        dest_ip=CANARY_IP,
        port=443,
        protocol="TCP",
        score=0.9,
        timestamp=1,
        shap_json={},
    )
    server = serve(data_dir, workers=2)
    with server.client() as client:
        headers = login(client)
        response = client.post(
            "/settings/whitelist", json={"cidr": CANARY_IP, "comment": CANARY_COMMENT}, headers=headers
        )
        assert response.status_code == 201
        assert CANARY_IP in client.get("/alerts/", headers=headers).text
        backup = tmp_path / "backup.nsxbak"
        result = subprocess.run(
            [sys.executable, "-m", "appliance", "backup", "--data-dir", str(data_dir.root), "--out", str(backup)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        written_while_running = scan_for_canaries(tmp_path, isolated_runtime_dir)
    server.stop()
    store.close()
    files = scan_for_canaries(tmp_path, isolated_runtime_dir)
    names = {path.name for path in files}
    assert {"netsenx.db", "backup.nsxbak"} <= names
    assert any(path.name.endswith("-wal") for path in written_while_running)  # WAL was scanned too
    assert any(path.suffix == ".log" for path in files)


def scan_for_canaries(*roots):
    """Every file under the roots; fails if any holds a canary in any common encoding."""
    needles = [text.encode(encoding) for text in (CANARY_IP, CANARY_COMMENT) for encoding in ("utf-8", "utf-16-le")]
    seen = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                found = [needle for needle in needles if needle in content]
                assert not found, f"{path} contains {found}"
                seen.append(path)
    return seen


def test_rate_limit_is_shared_by_workers_and_survives_a_restart(store, serve, data_dir):
    # The seed's 100 requests, over a day-long window so the test cannot straddle a window boundary.
    limits = {"NETSENX_RATE_LIMITS": json.dumps({"general": [100, 86400]})}
    server = serve(data_dir, workers=2, extra_env=limits)
    with server.client() as client:
        headers = login(client)
        remaining = []
        for _ in range(60):
            # A fresh connection per request, so both workers serve some of them.
            with server.client() as fresh:
                response = fresh.get("/alerts/", headers=headers)
            assert response.status_code == 200
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == list(range(99, 39, -1))
    server.stop()
    restarted = serve(data_dir, workers=2, extra_env=limits)
    with restarted.client() as client:
        codes = [client.get("/alerts/", headers=headers).status_code for _ in range(41)]
        limited = client.get("/alerts/", headers=headers)
    assert codes == [200] * 40 + [429]
    assert limited.status_code == 429 and set(limited.json()) == {"detail"} and "rate limit" in limited.json()["detail"]
    assert limited.headers["x-ratelimit-remaining"] == "0" and int(limited.headers["retry-after"]) > 0


def sealed_box(data_dir) -> None:
    key = lifecycle.create_database(data_dir, passphrase="box passphrase 2026")
    opened = Store(data_dir, key)
    users.create_user(opened, "admin", ADMIN_PASSWORD, "admin")
    opened.close()


def test_sealed_box_answers_423_until_unsealed_in_any_worker(tmp_path, serve, data_dir):
    sealed_box(data_dir)
    server = serve(data_dir, workers=2)
    with server.client() as client:
        assert client.get("/health").json() == {"status": "sealed", "version": "0.1.0", "sealed": True, "warnings": []}
        sealed = client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert sealed.status_code == 423 and "unseal" in sealed.json()["detail"]
        wrong = client.post("/system/unseal", json={"passphrase": "wrong"})
        assert wrong.status_code == 401 and wrong.headers["retry-after"] == "1"
        time.sleep(1.1)  # the back-off after one wrong passphrase
        assert client.post("/system/unseal", json={"passphrase": "box passphrase 2026"}).status_code == 200
    for _ in range(6):  # new connections land on both workers; all are unsealed now
        with server.client() as fresh:
            health = fresh.get("/health")
            assert health.json()["sealed"] is False
            assert fresh.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
    assert "strict-transport-security" not in health.headers  # plain HTTP (loopback only)


def unseal_and_sign_in(server) -> None:
    with server.client() as client:
        assert client.post("/system/unseal", json={"passphrase": "box passphrase 2026"}).status_code == 200
        assert login(client)


def assert_sealed(server) -> None:
    with server.client() as client:
        assert client.get("/health").json()["sealed"] is True
        assert client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 423


def appliance(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *arguments], capture_output=True, text=True, timeout=120)


def test_a_sealed_box_is_sealed_again_after_any_restart(serve, data_dir, tmp_path):
    sealed_box(data_dir)
    server = serve(data_dir, workers=2)
    unseal_and_sign_in(server)
    # Bound to Granian's main process (the server), not to the worker that took the passphrase.
    assert json.loads(data_dir.unsealed_key_file.read_bytes())["holder"]["pid"] == server.process.pid
    server.stop()  # a clean stop (systemctl stop / restart): the server wipes the key itself
    assert not data_dir.unsealed_key_file.exists()
    restarted = serve(data_dir, workers=2)
    assert_sealed(restarted)
    restarted.stop()

    killed = serve(data_dir, workers=2)
    unseal_and_sign_in(killed)
    os.killpg(killed.process.pid, signal.SIGKILL)  # kill -9, an OOM kill: no time to wipe anything
    killed.process.wait()
    left_behind = tmp_path / "left-behind.key"
    shutil.copy2(data_dir.unsealed_key_file, left_behind)
    # The API unit's ExecStopPost: wipes what a killed server left.
    sealing = appliance("seal", "--data-dir", str(data_dir.root))
    assert sealing.returncode == 0 and sealing.stdout.startswith("sealed")
    assert not data_dir.unsealed_key_file.exists()
    # Without it (no systemd), the key of a dead server is refused by whoever finds it: the engine ...
    shutil.copy2(left_behind, data_dir.unsealed_key_file)
    engine = appliance("engine", "--once", "--data-dir", str(data_dir.root))
    assert engine.returncode == 1 and "sealed" in engine.stderr
    assert not data_dir.unsealed_key_file.exists()
    # ... and a restarted API.
    shutil.copy2(left_behind, data_dir.unsealed_key_file)
    assert_sealed(serve(data_dir, workers=2))


def test_openapi_is_served(store, serve, data_dir):
    server = serve(data_dir, workers=1)
    with server.client() as client:
        schema = client.get("/schema/openapi.json").json()
    assert schema["info"]["title"] == "NetSenX Appliance API"
    assert "/api/v1/alerts/{alert_id}" in schema["paths"]
    json.dumps(schema)
