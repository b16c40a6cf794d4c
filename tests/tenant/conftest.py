"""A box with real data in every part: the engine's output on real captures, users with secrets, a whitelist,
an expired license, revoked tokens and a queued sensor batch."""

from __future__ import annotations

import time

import msgspec
import pytest

from appliance import box_identity
from appliance.auth import users
from appliance.engine.process import Engine
from appliance.ingest.local_sensor import queue_capture_files
from appliance.licensing import box_license
from appliance.tenant.export import exportable_tables
from tests.agents.licensed_box import trusted_vendor  # noqa: F401  (fixture)
from tests.conftest import PCAPS, login
from tests.licensing.conftest import make_license, vendor_key  # noqa: F401  (fixtures)

CAPTURES = [PCAPS / "icmp-portscan.pcap", PCAPS / "arp-scan.pcap", PCAPS / "ftp-cleartext-login.pcap"]
# Strings stored on the box through the API: the erasure tests look for them in the stolen files.
KNOWN_STRINGS = ("printer-vlan-quarantine-7f3a", "escalated to the DPO after the night shift")
DAY = 86_400
ANALYST_PASSWORD = "another long passphrase 42"


class BoxSecrets(msgspec.Struct):
    """What must never leave the box, read straight from the database."""

    password_hash: str
    totp_secret: str
    token_signing_secret: str
    box_signing_key: str
    revoked_token_id: str
    license_key: str

    def values(self) -> dict[str, str]:
        return msgspec.structs.asdict(self)


@pytest.fixture(scope="session")
def scorer():
    from appliance.engine.scoring import Scorer

    return Scorer.load()


@pytest.fixture
def populated_box(store, api, admin_headers, scorer, make_license, trusted_vendor) -> BoxSecrets:  # noqa: F811
    """Fill `store` through the engine and the API, the way a box in service fills up."""
    queue_capture_files(store, CAPTURES, agent_id="local")
    Engine(store, scorer).process_all()
    # Batches the engine has not consumed yet still hold their raw payload.
    queue_capture_files(store, [PCAPS / "arp-single.pcap"], agent_id="local")
    box_identity.signing_key(store)

    alert_id = store.query_one("SELECT id FROM alerts ORDER BY id LIMIT 1")["id"]
    assert (
        api.put(
            f"/alerts/{alert_id}", json={"status": "reviewed", "notes": KNOWN_STRINGS[1]}, headers=admin_headers
        ).status_code
        == 200
    )
    assert (
        api.post(
            "/settings/whitelist", json={"cidr": "10.9.8.0/24", "comment": KNOWN_STRINGS[0]}, headers=admin_headers
        ).status_code
        == 201
    )
    assert api.post("/auth/logout", headers=add_analyst(api, admin_headers)).status_code == 200
    users.start_totp_enrolment(store, "admin")  # the seed is stored from the first step of enrolment

    now = int(time.time())  # expired two months ago: past the grace period, the license is locked
    _, expired_key = make_license(issued_at=now - 400 * DAY, expires_at=now - 60 * DAY)
    box_license.install(store, expired_key, box_license.trusted_keys())
    assert box_license.current_state(store, box_license.trusted_keys()).status == "locked"

    admin = store.query_one("SELECT password_hash, totp_secret FROM users WHERE username = 'admin'")
    return BoxSecrets(
        password_hash=admin["password_hash"],
        totp_secret=admin["totp_secret"],
        token_signing_secret=store.get_setting("token_signing_secret"),
        box_signing_key=store.get_setting("box_signing_key"),
        revoked_token_id=store.query_one("SELECT jti FROM revoked_tokens")["jti"],
        license_key=store.query_one("SELECT license_key FROM license_keys")["license_key"],
    )


def add_analyst(api, admin_headers) -> dict[str, str]:
    """Create the analyst "ana" through the API; returns her bearer header."""
    body = {"username": "ana", "password": ANALYST_PASSWORD, "role": "analyst"}
    assert api.post("/users", json=body, headers=admin_headers).status_code == 201
    return login(api, "ana", ANALYST_PASSWORD)


def row_counts(store) -> dict[str, int]:
    connection = store.connection()
    return {
        table: store.query_one(f'SELECT count(*) AS n FROM "{table}"')["n"] for table in exportable_tables(connection)
    }
