"""Fixtures shared by every test: real encrypted data directories and, for e2e, real Granian servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from appliance.auth import users
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from tests.shared_data import PCAPS as PCAPS  # re-exported: most tests take the captures folder from here

ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def isolated_runtime_dir(tmp_path_factory, monkeypatch) -> Path:
    """Each test gets its own tmpfs-like runtime dir (unsealed keys, rate-limit counters)."""
    runtime = tmp_path_factory.mktemp("runtime")
    monkeypatch.setenv("NETSENX_RUNTIME_DIR", str(runtime))
    return runtime


@pytest.fixture
def data_dir(tmp_path) -> DataDirectory:
    return DataDirectory.at(tmp_path / "data")


@pytest.fixture
def store(data_dir) -> Store:
    key = lifecycle.create_database(data_dir)
    opened = Store(data_dir, key)
    users.create_user(opened, "admin", ADMIN_PASSWORD, "admin")
    yield opened
    opened.close()


def tamper_with_audit_log(store: Store, sql: str, parameters=()) -> None:
    """What an intruder holding the data key does: drop the append-only guards, edit, put the guards back."""
    guards = store.query("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'audit_log'")
    assert len(guards) == 2
    with store.write_transaction():
        store.execute("DROP TRIGGER audit_log_append_only_update")
        store.execute("DROP TRIGGER audit_log_append_only_delete")
        store.execute(sql, parameters)
        for guard in guards:
            store.execute(guard["sql"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningServer:
    """`appliance serve` as a real process (Granian + Litestar) on loopback."""

    def __init__(
        self,
        data_dir: DataDirectory,
        *,
        https: bool = False,
        workers: int = 2,
        extra_env: dict | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.https = https
        self.log_path = data_dir.root.parent / f"server-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "appliance",
            "serve",
            "--data-dir",
            str(data_dir.root),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        if not https:
            command.append("--http")
        command += extra_args or []
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop(), it outlives this method
        # Its own process group, so that stopping it also stops Granian's workers, however far start-up got.
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(extra_env or {})},
            start_new_session=True,
        )
        self.url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}/api/v1"
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start within 30 s")

    def client(self, **kwargs) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.data_dir.certificate)) if self.https else False
        return httpx.Client(base_url=self.url, verify=verify, timeout=30, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # any worker left behind
        self.process.wait()
        self._log.close()


@pytest.fixture
def serve():
    servers: list[RunningServer] = []

    def start(data_dir: DataDirectory, **kwargs) -> RunningServer:
        server = RunningServer(data_dir, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def login(client, username: str = "admin", password: str = ADMIN_PASSWORD, **extra) -> dict[str, str]:
    """Log in through the API (clients' base URL ends in /api/v1) and return the bearer header."""
    response = client.post("/auth/login", json={"username": username, "password": password, **extra})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def api(store, data_dir):
    """The app in-process (Litestar's test client) over a real encrypted store."""
    from litestar.testing import TestClient

    from appliance.server.app import create_app

    with TestClient(create_app(data_dir), base_url="http://testserver.local/api/v1") as client:
        yield client


@pytest.fixture
def admin_headers(api) -> dict[str, str]:
    return login(api)
