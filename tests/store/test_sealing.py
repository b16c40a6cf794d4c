"""Sealed mode: the unsealed key lives only as long as the API server that was given the passphrase, and the
passphrase cannot be guessed at the API's speed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
from litestar.testing import TestClient

from appliance.server.app import create_app
from appliance.store import keys, lifecycle
from appliance.store.unseal_backoff import MAX_DELAY_SECONDS, TooSoon, UnsealBackoff, delay_after

PASSPHRASE = "box passphrase 2026"


@pytest.fixture
def sealed_key(data_dir) -> bytes:
    return lifecycle.create_database(data_dir, passphrase=PASSPHRASE)


@pytest.fixture
def server_process():
    """Stands in for the API server the key belongs to: a process that runs until the test ends it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def test_the_unsealed_key_is_shared_only_while_its_server_runs(data_dir, sealed_key, server_process):
    keys.remember_unsealed_key(data_dir, sealed_key, holder_pid=server_process.pid)
    assert keys.load_key(data_dir) == sealed_key  # a sibling worker, the engine, the backup
    server_process.kill()
    server_process.wait()
    with pytest.raises(keys.SealedError):
        keys.load_key(data_dir)
    assert not data_dir.unsealed_key_file.exists()  # wiped by whoever found it left behind


def test_a_key_of_a_reused_pid_or_of_an_earlier_version_is_not_trusted(data_dir, sealed_key, server_process):
    holder = keys.KeyHolder.of(server_process.pid)
    another_process_same_pid = msgspec.structs.replace(holder, started=holder.started - 1)
    data_dir.unsealed_key_file.write_bytes(
        msgspec.json.encode(keys.UnsealedKey(sealed_key.hex(), another_process_same_pid))
    )
    with pytest.raises(keys.SealedError):
        keys.load_key(data_dir)
    data_dir.unsealed_key_file.write_text(sealed_key.hex() + "\n")  # what earlier versions left: bound to nothing
    with pytest.raises(keys.SealedError):
        keys.load_key(data_dir)
    assert not data_dir.unsealed_key_file.exists()


def test_each_wrong_passphrase_doubles_the_wait_for_every_worker_and_after_a_restart(tmp_path):
    backoff = UnsealBackoff(tmp_path / "unseal-failures.db")
    assert [backoff.admit(now=moment) for moment in (0, 1, 3, 7)] == [1, 2, 4, 8]
    with pytest.raises(TooSoon) as too_soon:
        backoff.admit(now=14.5)
    assert too_soon.value.retry_after == 1 and "4 wrong passphrase(s)" in str(too_soon.value)
    assert UnsealBackoff(tmp_path / "unseal-failures.db").admit(now=15) == 16  # another worker, or after a restart
    backoff.succeeded()
    assert backoff.admit(now=100) == 1
    assert delay_after(40) == MAX_DELAY_SECONDS


def test_a_parallel_burst_of_unseal_attempts_gets_one_try(tmp_path):
    start = threading.Barrier(8)

    def attempt(_: int) -> str:
        start.wait()
        try:
            UnsealBackoff(tmp_path / "unseal-failures.db").admit(now=1000)
        except TooSoon:
            return "too soon"
        return "tried"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("tried") == 1, outcomes


def test_the_unseal_endpoint_backs_off_and_says_how_long(data_dir, sealed_key):
    earlier = UnsealBackoff(data_dir.unseal_failures)
    for moment in (0, 1, 3, 7, 15):  # five failures long ago: the next one sets a wait of 32 s
        earlier.admit(now=moment)
    with TestClient(create_app(data_dir), base_url="http://testserver.local/api/v1") as worker:
        wrong = worker.post("/system/unseal", json={"passphrase": "a wrong guess"})
        assert wrong.status_code == 401 and wrong.headers["retry-after"] == "32"
        assert wrong.json() == {"detail": "wrong passphrase; the next attempt is allowed in 32 s"}
        early = worker.post("/system/unseal", json={"passphrase": PASSPHRASE})
    assert early.status_code == 429 and 0 < int(early.headers["retry-after"]) <= 32
    assert "6 wrong passphrase(s) in a row" in early.json()["detail"]
    with TestClient(create_app(data_dir), base_url="http://testserver.local/api/v1") as restarted:
        assert restarted.post("/system/unseal", json={"passphrase": PASSPHRASE}).status_code == 429
        assert restarted.get("/health").json()["sealed"] is True


def test_the_right_passphrase_unseals_and_clears_the_count(data_dir, sealed_key):
    UnsealBackoff(data_dir.unseal_failures).admit(now=0)
    with TestClient(create_app(data_dir), base_url="http://testserver.local/api/v1") as worker:
        assert worker.post("/system/unseal", json={"passphrase": PASSPHRASE}).status_code == 200
        assert worker.get("/health").json()["sealed"] is False
    assert UnsealBackoff(data_dir.unseal_failures).admit(now=time.time()) == 1  # counting starts afresh
