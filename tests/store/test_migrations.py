from __future__ import annotations

import pytest

from appliance.store import keys
from appliance.store.connection import open_encrypted
from appliance.store.database import SchemaMismatch, Store
from appliance.store.migrations import available, current_version, latest_version, migrate

# One representative row per table, inserted at the version that introduced the table.
SAMPLE_ROWS = {
    1: [
        "INSERT INTO settings (key, value) VALUES ('k', '\"v\"')",
        "INSERT INTO whitelist (id, cidr, comment, created_by, created_at) VALUES ('w', '10.0.0.0/8', 'c', 'a', 1)",
        "INSERT INTO alerts (id, severity, rule_name, source_ip, score, timestamp, created_at, updated_at)"
        " VALUES ('a', 'HIGH', 'PORT_SCAN', '10.0.0.1', 0.5, 1, 0, 0)",
        "INSERT INTO users (id, username, password_hash, role, totp_secret, totp_enabled, created_at)"
        " VALUES (7, 'vera', 'scrypt$h', 'viewer', 'SEED', 1, 5)",
    ],
    2: [
        "INSERT INTO agents (agent_id, name, hostname, os_type, agent_version, created_at, last_seen)"
        " VALUES ('s1', 's1', 'h', 'linux', '1', 0, 0)",
        "INSERT INTO ingest_batches (agent_id, seq, received_at, payload) VALUES ('s1', 0, 0, x'80')",
    ],
    4: [
        "INSERT INTO license_keys (license_id, license_key, issued_at, expires_at, installed_at, source)"
        " VALUES ('lic_1', 'nsx_a.b', 0, 1, 0, 'admin')"
    ],
    6: [
        "INSERT INTO incidents (id, reference, title, aware_at, created_by, created_at, updated_at)"
        " VALUES ('i1', 'INC-2026-0001', 't', 1, 'a', 1, 1)",
        "INSERT INTO incident_alerts (incident_id, alert_id, added_at) VALUES ('i1', 'a', 1)",
        "INSERT INTO breaches (id, reference, incident_id, title, aware_at, not_notified_reason, created_by,"
        " created_at, updated_at) VALUES ('b1', 'BR-2026-0001', 'i1', 't', 1, 'no risk', 'a', 1, 1)",
    ],
}


@pytest.mark.parametrize("start", range(0, latest_version()))
def test_upgrade_from_every_earlier_version_keeps_data(tmp_path, start):
    key = keys.generate_key()
    connection = open_encrypted(tmp_path / "old.db", key)
    migrate(connection, target=start)
    for version in range(1, start + 1):
        for statement in SAMPLE_ROWS.get(version, []):
            connection.execute(statement)
    applied = migrate(connection)
    assert applied == list(range(start + 1, latest_version() + 1))
    assert current_version(connection) == latest_version()
    if start >= 1:
        assert connection.execute("SELECT value FROM settings WHERE key = 'k'").fetchall() == [('"v"',)]
        assert connection.execute("SELECT cidr FROM whitelist").fetchall() == [("10.0.0.0/8",)]
    if start >= 1:
        # the totals table (migration 3) was backfilled from the alerts already there
        assert connection.execute("SELECT sum(n) FROM alert_counts").fetchall() == [(1,)]
    if start >= 1:
        # users were rebuilt (migration 9) with every account and its second factor kept
        assert connection.execute(
            "SELECT id, username, password_hash, role, totp_secret, totp_enabled, token_generation FROM users"
        ).fetchall() == [(7, "vera", "scrypt$h", "viewer", "SEED", 1, 0)]
    assert migrate(connection) == []  # idempotent


def test_a_deleted_accounts_id_is_never_given_to_a_new_account(tmp_path):
    connection = open_encrypted(tmp_path / "box.db", keys.generate_key())
    migrate(connection)
    insert = "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, 'h', 'viewer', 0) RETURNING id"
    first = connection.execute(insert, ("vic",)).fetchall()[0][0]
    connection.execute("DELETE FROM users WHERE id = ?", (first,))
    assert connection.execute(insert, ("vic",)).fetchall()[0][0] == first + 1


def test_every_shipped_migration_has_sample_rows_here():
    # When a migration adds a table, the upgrade test above must learn to fill it.
    assert set(SAMPLE_ROWS) <= {version for version, _ in available()}


def test_newer_database_is_refused(tmp_path):
    key = keys.generate_key()
    connection = open_encrypted(tmp_path / "new.db", key)
    migrate(connection)
    connection.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(connection)


def test_store_refuses_an_unmigrated_database(data_dir):
    key = keys.generate_key()
    data_dir.root.mkdir(parents=True)
    connection = open_encrypted(data_dir.database, key)
    migrate(connection, target=1)
    connection.close()
    with pytest.raises(SchemaMismatch, match="appliance migrate"):
        Store(data_dir, key)
