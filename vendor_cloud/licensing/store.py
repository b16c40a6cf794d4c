"""The licensing service's state in one SQLite file (stdlib sqlite3: the vendor side needs no encryption
at rest beyond its host's, and holds no customer network data).

Tables: the newest key issued per license, revocations (kept apart so a license can be revoked before
the service has ever seen it), billing accounts (Stripe customer / subscription per license) and the
last heartbeat per box. Each call opens its own connection, so the store is safe from any worker thread.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import msgspec

from appliance.licensing.sovereignty import CloudHeartbeat

_SCHEMA = """
CREATE TABLE IF NOT EXISTS licenses (
    license_id  TEXT PRIMARY KEY,
    license_key TEXT NOT NULL,
    issued_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    license_id TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_accounts (
    license_id             TEXT PRIMARY KEY,
    stripe_customer_id     TEXT NOT NULL UNIQUE,
    stripe_subscription_id TEXT UNIQUE,
    status                 TEXT NOT NULL DEFAULT 'none'
);
CREATE TABLE IF NOT EXISTS boxes (
    license_id        TEXT NOT NULL,
    box_id            TEXT NOT NULL,
    last_seen         INTEGER NOT NULL,
    appliance_version TEXT NOT NULL,
    sensor_version    TEXT NOT NULL,
    counts            TEXT NOT NULL,
    PRIMARY KEY (license_id, box_id)
);
"""


class BillingAccount(msgspec.Struct, frozen=True):
    license_id: str
    stripe_customer_id: str
    stripe_subscription_id: str | None
    status: str


class VendorStore:
    def __init__(self, path: Path):
        self._path = path
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path, timeout=10)) as db, db:
            yield db

    def newest_key(self, license_id: str) -> tuple[str, int] | None:
        """The newest key issued for ``license_id`` and its issued_at, if the service knows the license."""
        with self._connect() as db:
            row = db.execute(
                "SELECT license_key, issued_at FROM licenses WHERE license_id = ?", (license_id,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def record_key(self, license_id: str, license_key: str, issued_at: int) -> None:
        """Remember ``license_key`` unless a key issued later is already known (newest issue wins)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO licenses (license_id, license_key, issued_at) VALUES (?, ?, ?) "
                "ON CONFLICT (license_id) DO UPDATE SET license_key = excluded.license_key, "
                "issued_at = excluded.issued_at WHERE excluded.issued_at > licenses.issued_at",
                (license_id, license_key, issued_at),
            )

    def revoke(self, license_id: str, now: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO revocations (license_id, revoked_at) VALUES (?, ?)", (license_id, now)
            )

    def is_revoked(self, license_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM revocations WHERE license_id = ?", (license_id,)).fetchone()
        return row is not None

    def billing_account(self, license_id: str) -> BillingAccount | None:
        return self._account_where("license_id = ?", license_id)

    def billing_account_by_subscription(self, subscription_id: str) -> BillingAccount | None:
        return self._account_where("stripe_subscription_id = ?", subscription_id)

    def _account_where(self, condition: str, value: str) -> BillingAccount | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT license_id, stripe_customer_id, stripe_subscription_id, status "
                f"FROM billing_accounts WHERE {condition}",
                (value,),
            ).fetchone()
        return BillingAccount(*row) if row else None

    def save_customer(self, license_id: str, stripe_customer_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO billing_accounts (license_id, stripe_customer_id) VALUES (?, ?) "
                "ON CONFLICT (license_id) DO UPDATE SET stripe_customer_id = excluded.stripe_customer_id",
                (license_id, stripe_customer_id),
            )

    def save_subscription(self, license_id: str, customer_id: str, subscription_id: str, status: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO billing_accounts (license_id, stripe_customer_id, stripe_subscription_id, status) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (license_id) DO UPDATE SET "
                "stripe_customer_id = excluded.stripe_customer_id, "
                "stripe_subscription_id = excluded.stripe_subscription_id, status = excluded.status",
                (license_id, customer_id, subscription_id, status),
            )

    def record_heartbeat(self, heartbeat: CloudHeartbeat, now: int) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO boxes (license_id, box_id, last_seen, appliance_version, "
                "sensor_version, counts) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    heartbeat.license_id,
                    heartbeat.box_id,
                    now,
                    heartbeat.appliance_version,
                    heartbeat.sensor_version,
                    msgspec.json.encode(heartbeat.counts).decode(),
                ),
            )
