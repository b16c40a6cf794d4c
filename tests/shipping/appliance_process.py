"""A real appliance (`appliance serve`, Granian) that can be stopped and started again on the same port, so
a sensor pointed at it sees it go away and come back."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from unittest import mock

import msgspec
import pytest

from appliance.auth import users
from appliance.licensing import box_license
from appliance.licensing.keys import License, encode_license, key_id, public_key_text
from appliance.licensing.plans import PLAN_FEATURES
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from tests.conftest import ADMIN_PASSWORD, RunningServer, free_port

DAY = 86_400


class Appliance:
    def __init__(self, data_dir: DataDirectory) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: RunningServer | None = None

    def start(self) -> None:
        with mock.patch.object(sys.modules[RunningServer.__module__], "free_port", lambda: self.port):
            self.server = RunningServer(self.data_dir, workers=1)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, requests in flight are cut."""
        self.server.process.kill()
        self.server.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def appliance(store, data_dir, license_key) -> Iterator[Appliance]:
    """A licensed box of its own, started; stopped at the end of the test whatever state it is in."""
    box = Appliance(data_dir)
    box.start()
    yield box
    box.stop()


class SharedBox(msgspec.Struct):
    appliance: Appliance
    store: Store
    license_key: str


@pytest.fixture(scope="module")
def shared_box(vendor_key, tmp_path_factory) -> Iterator[SharedBox]:
    """One licensed box (room for 100 sensors) for a whole module: starting Granian costs seconds, so
    tests share it and keep apart by using their own agent_id."""
    now = int(time.time())
    license = License(
        license_id="lic_shared_box",
        customer="Test GmbH",
        plan="professional",
        features=PLAN_FEATURES["professional"],
        max_sensors=100,
        issued_at=now - DAY,
        expires_at=now + 365 * DAY,
        key_id=key_id(vendor_key.public_key()),
    )
    key = encode_license(license, vendor_key)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(box_license.VENDOR_KEYS_ENV, public_key_text(vendor_key.public_key()))
        data_dir = DataDirectory.at(tmp_path_factory.mktemp("shared-box") / "data")
        store = Store(data_dir, lifecycle.create_database(data_dir))
        users.create_user(store, "admin", ADMIN_PASSWORD, "admin")
        box_license.install(store, key, box_license.trusted_keys())
        appliance = Appliance(data_dir)
        appliance.start()
        try:
            yield SharedBox(appliance=appliance, store=store, license_key=key)
        finally:
            appliance.stop()
            store.close()
