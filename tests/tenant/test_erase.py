"""DELETE /tenant and `appliance erase`: the key and every file destroyed, stolen copies unreadable, every worker
answering 410 and letting go of the database."""

from __future__ import annotations

import io
import shutil
import sqlite3
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from appliance.cli.main import main
from appliance.store import keys, lifecycle
from appliance.store.connection import WrongKeyError, open_encrypted
from appliance.tenant.controller import CONFIRMATION
from appliance.tenant.erasure import ERASED_DETAIL
from tests.conftest import login
from tests.tenant.conftest import KNOWN_STRINGS, add_analyst


def erase_request(client, headers, body=None):
    return client.request("DELETE", "/tenant", headers=headers, **({} if body is None else {"json": body}))


def test_erasing_needs_the_exact_confirmation(api, admin_headers, data_dir):
    for body in (None, {}, {"confirm": "yes"}, {"confirm": CONFIRMATION.lower()}, ["DELETE ALL DATA"]):
        response = erase_request(api, admin_headers, body)
        assert response.status_code == 400, body
        assert response.json()["detail"] == (
            'to erase everything irreversibly, send the JSON body {"confirm": "DELETE ALL DATA"}'
        )
    assert data_dir.database.exists() and data_dir.key_file.exists()
    assert api.get("/alerts", headers=admin_headers).status_code == 200


def test_only_admins_erase(api, admin_headers, data_dir):
    analyst = add_analyst(api, admin_headers)
    assert erase_request(api, analyst, {"confirm": CONFIRMATION}).status_code == 403
    assert data_dir.database.exists()


def granian_workers(server_pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == server_pid:
            children.append(int(stat.parent.name))
    return children


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (also after it was unlinked: "... (deleted)")."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if Path(fd.readlink().as_posix().removesuffix(" (deleted)")) == path:
                return True
        except OSError:
            continue
    return False


def burst(server, path: str, headers: dict, count: int = 12) -> list[httpx.Response]:
    """Requests on fresh connections at once, so that every worker gets some."""

    def one(_):
        with server.client() as client:
            return client.get(path, headers=headers)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def until(condition, what: str, action, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        action()


def test_erasure_on_a_served_box_leaves_nothing_readable(
    populated_box, data_dir, isolated_runtime_dir, serve, tmp_path
):
    server = serve(data_dir, workers=2, extra_env={"NETSENX_RATE_LIMITS": '{"general": [10000, 60]}'})
    with server.client() as client:
        headers = login(client)
    workers = granian_workers(server.process.pid)
    assert len(workers) == 2
    until(
        lambda: all(holds_open(pid, data_dir.database) for pid in workers),
        "both workers open the store",
        lambda: burst(server, "/alerts", headers),
    )

    with server.client() as client:  # the export streams through Granian's worker threads too
        export = client.get("/tenant/export", headers=headers)
    assert export.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    assert archive.testzip() is None and "tables/alerts.json" in archive.namelist()

    stolen = tmp_path / "stolen"  # what a thief copies off the running box, without the key
    stolen.mkdir()
    for path in data_dir.root.glob("netsenx.db*"):
        shutil.copy(path, stolen / path.name)
    original_key = keys.read_key_file(data_dir.key_file)
    copy = open_encrypted(stolen / "netsenx.db", original_key)  # the copy is complete: the key is all it lacks
    assert copy.execute("SELECT comment FROM whitelist").fetchall() == [(KNOWN_STRINGS[0],)]
    copy.close()
    (stolen / "netsenx.db-shm").unlink(missing_ok=True)

    with server.client() as client:
        # (d) nothing happens without the exact confirmation
        assert erase_request(client, headers).status_code == 400
        assert erase_request(client, headers, {"confirm": "delete all data"}).status_code == 400
        assert data_dir.database.exists()
        response = erase_request(client, headers, {"confirm": CONFIRMATION})
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["status"] == "erased" and receipt["destroyed"][0] == str(data_dir.key_file)

    # (a) the data directory is empty: no database, no key, no TLS key, no rate-limit counters
    assert data_dir.root.is_dir() and list(data_dir.root.rglob("*")) == []
    left_in_runtime = sorted(path.name for path in isolated_runtime_dir.iterdir())
    assert "granian.pid" in left_in_runtime and all(name.endswith((".pid", ".lock")) for name in left_in_runtime)

    # (b) the stolen copy opens with nothing left on the machine, and says nothing without a key
    candidates = [
        data_dir.key_file,
        data_dir.sealing_file,
        data_dir.unsealed_key_file,
        *isolated_runtime_dir.rglob("*"),
        *data_dir.root.rglob("*"),
    ]
    for candidate in candidates:
        if candidate.is_file():
            assert original_key.hex().encode() not in candidate.read_bytes()
            with pytest.raises((WrongKeyError, ValueError)):
                open_encrypted(stolen / "netsenx.db", keys.read_key_file(candidate), readonly=True)
        else:
            assert not candidate.exists()
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(stolen / "netsenx.db").execute("SELECT * FROM sqlite_master").fetchall()
    stolen_bytes = b"".join(path.read_bytes() for path in stolen.iterdir())
    # Only strings long enough not to turn up by chance in a megabyte of ciphertext (a 3-byte one would, 6% of runs).
    for known in (*KNOWN_STRINGS, "CLEARTEXT_CREDENTIALS", "192.168.1.109", "SQLite format 3"):
        assert known.encode() not in stolen_bytes, known

    # (c) every worker answers 410 (the health probe: "erased") and lets go of the unlinked database
    seen = []

    def probe():
        seen.extend(burst(server, "/alerts", headers) + burst(server, "/health", {}, count=4))

    until(
        lambda: not any(holds_open(pid, data_dir.database) for pid in workers), "every worker closes the store", probe
    )
    probe()
    assert granian_workers(server.process.pid) == workers  # answered by the same workers, none crashed
    for response in seen:
        if response.request.url.path.endswith("/health"):
            assert (response.status_code, response.json()["status"]) == (200, "erased")
        else:
            assert (response.status_code, response.json()) == (410, {"detail": ERASED_DETAIL})
    # Separate connections: a worker may close an idle keep-alive connection once it has gone into 410 mode.
    with server.client() as client:
        assert client.post("/auth/login", json={"username": "admin", "password": "x"}).status_code == 410
    with server.client() as client:
        assert client.get("/tenant/export", headers=headers).status_code == 410

    # `appliance init` while the old workers still run: they keep answering 410, never mixing what they
    # cached from the erased box (store, token secret) with the new database
    lifecycle.create_database(data_dir)
    assert {response.status_code for response in burst(server, "/alerts", headers)} == {410}
    assert "Traceback" not in server.log_path.read_text()


def test_erasing_a_sealed_box_destroys_the_salt_and_the_unsealed_key(data_dir, isolated_runtime_dir, capsys):
    key = lifecycle.create_database(data_dir, passphrase="a long database passphrase")
    keys.remember_unsealed_key(data_dir, key)
    (isolated_runtime_dir / "granian.pid").write_text("1\n")
    assert main(["erase", "--data-dir", str(data_dir.root), "--yes-erase-everything"]) == 0
    assert "erased" in capsys.readouterr().out
    assert not data_dir.sealing_file.exists() and not data_dir.unsealed_key_file.exists()
    assert list(data_dir.root.rglob("*")) == []
    assert [path.name for path in isolated_runtime_dir.iterdir()] == ["granian.pid"]  # the service's, no data
    password_file = data_dir.root.parent / "password"
    password_file.write_text("a new admin passphrase 2026\n")
    init = ["init", "--data-dir", str(data_dir.root), "--admin", "admin", "--password-file", str(password_file)]
    assert main(init) == 0  # the way back: a fresh box in the same place


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "refusing to erase"),
        (["--yes-erase-everything"], "holds no NetSenX database or key: nothing to erase"),
    ],
)
def test_cli_errors_are_one_line(data_dir, capsys, arguments, message):
    data_dir.root.mkdir(parents=True)
    assert main(["erase", "--data-dir", str(data_dir.root), *arguments]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("appliance erase: error: ") and message in error


def test_cli_refuses_a_missing_directory(tmp_path, capsys):
    assert main(["erase", "--data-dir", str(tmp_path / "nowhere"), "--yes-erase-everything"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
