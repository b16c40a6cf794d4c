from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.store import keys, lifecycle
from appliance.store.connection import WrongKeyError, open_encrypted
from appliance.store.database import Store


def whitelist_ids(data_dir, key):
    store = Store(data_dir, key)
    try:
        return [row["id"] for row in store.query("SELECT id FROM whitelist ORDER BY id")]
    finally:
        store.close()


def add_entry(data_dir, key, entry_id):
    store = Store(data_dir, key)
    store.execute(
        "INSERT INTO whitelist (id, cidr, created_by, created_at) VALUES (?, '10.0.0.0/8', 't', 0)", (entry_id,)
    )
    store.close()


def test_settings_of_every_connection(data_dir):
    key = lifecycle.create_database(data_dir)
    connection = open_encrypted(data_dir.database, key)
    pragma = lambda name: connection.execute(f"PRAGMA {name}").fetchall()[0][0]  # noqa: E731
    assert pragma("cipher") == "chacha20"
    assert pragma("journal_mode") == "wal"
    assert pragma("foreign_keys") == 1
    assert pragma("temp_store") == 2  # memory
    assert oct(data_dir.database.stat().st_mode & 0o777) == "0o600"
    assert oct(data_dir.key_file.stat().st_mode & 0o777) == "0o600"


def test_wrong_key_and_plain_sqlite_cannot_read(data_dir):
    lifecycle.create_database(data_dir)
    with pytest.raises(WrongKeyError):
        open_encrypted(data_dir.database, keys.generate_key())
    import sqlite3

    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(data_dir.database).execute("SELECT * FROM sqlite_master").fetchall()
    assert not data_dir.database.read_bytes().startswith(b"SQLite format 3")


def test_passphrase_mode_keeps_no_key_on_disk(data_dir):
    key = lifecycle.create_database(data_dir, passphrase="a long admin passphrase")
    assert not data_dir.key_file.exists()
    assert key.hex() not in data_dir.sealing_file.read_text()
    with pytest.raises(keys.SealedError):
        keys.load_key(data_dir)
    assert keys.key_from_passphrase(data_dir, "a long admin passphrase") == key
    with pytest.raises(WrongKeyError):
        open_encrypted(data_dir.database, keys.key_from_passphrase(data_dir, "wrong passphrase"))


def test_rekey_to_new_key_file_and_to_passphrase(data_dir):
    key = lifecycle.create_database(data_dir)
    add_entry(data_dir, key, "kept")
    new_key = lifecycle.rekey(data_dir, key)
    assert new_key != key and keys.load_key(data_dir) == new_key
    with pytest.raises(WrongKeyError):
        open_encrypted(data_dir.database, key)
    assert whitelist_ids(data_dir, new_key) == ["kept"]
    sealed_key = lifecycle.rekey(data_dir, new_key, "the new passphrase!")
    assert keys.key_mode(data_dir) == "passphrase" and not data_dir.key_file.exists()
    assert whitelist_ids(data_dir, keys.key_from_passphrase(data_dir, "the new passphrase!")) == ["kept"]
    assert open_encrypted(data_dir.database, sealed_key).execute("PRAGMA journal_mode").fetchall() == [("wal",)]


def test_backup_and_restore_round_trip(data_dir, tmp_path):
    key = lifecycle.create_database(data_dir)
    add_entry(data_dir, key, "before")
    live = Store(data_dir, key)  # the backup is online: a reader/writer stays open throughout
    header = lifecycle.backup(data_dir, key, tmp_path / "b.nsxbak")
    live.execute("INSERT INTO whitelist (id, cidr, created_by, created_at) VALUES ('after', '::/0', 't', 0)")
    assert header["key_fingerprint"] == lifecycle.key_fingerprint(key)
    assert lifecycle.restore(data_dir, key, tmp_path / "b.nsxbak", key) >= 2
    assert [row["id"] for row in live.query("SELECT id FROM whitelist")] == ["before"]
    live.close()


def test_backup_made_before_a_rekey_restores_with_its_old_key(data_dir, tmp_path):
    old_key = lifecycle.create_database(data_dir)
    add_entry(data_dir, old_key, "old")
    lifecycle.backup(data_dir, old_key, tmp_path / "old.nsxbak")
    new_key = lifecycle.rekey(data_dir, old_key)
    header = lifecycle.read_backup_header(tmp_path / "old.nsxbak")
    with pytest.raises(lifecycle.BackupError, match="different key"):
        lifecycle.backup_key(header, None, new_key)
    lifecycle.restore(data_dir, new_key, tmp_path / "old.nsxbak", lifecycle.backup_key(header, None, old_key))
    assert whitelist_ids(data_dir, new_key) == ["old"]


def test_damaged_or_foreign_backups_leave_the_live_database_untouched(data_dir, tmp_path):
    key = lifecycle.create_database(data_dir)
    add_entry(data_dir, key, "precious")
    good = tmp_path / "good.nsxbak"
    lifecycle.backup(data_dir, key, good)
    damaged = tmp_path / "damaged.nsxbak"
    data = bytearray(good.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    for source, source_key in ((damaged, key), (not_a_backup, key), (good, keys.generate_key())):
        with pytest.raises(lifecycle.BackupError):
            lifecycle.restore(data_dir, key, source, source_key)
    assert whitelist_ids(data_dir, key) == ["precious"]
    assert not list(data_dir.root.glob(".restore-*"))


def test_cli_round_trip_and_errors(tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text("a good long password\n")
    data = tmp_path / "box"

    def appliance(*args):
        return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True)

    assert (
        appliance("init", "--data-dir", str(data), "--admin", "root", "--password-file", str(password_file)).returncode
        == 0
    )
    again = appliance("init", "--data-dir", str(data), "--admin", "root", "--password-file", str(password_file))
    assert again.returncode != 0 and again.stderr.count("\n") == 1 and "already" in again.stderr
    assert appliance("backup", "--data-dir", str(data), "--out", str(tmp_path / "b")).returncode == 0
    assert appliance("rekey", "--data-dir", str(data)).returncode == 0
    restored = appliance("restore", "--data-dir", str(data), "--from", str(tmp_path / "b"))
    assert restored.returncode == 1 and "different key" in restored.stderr and restored.stderr.count("\n") == 1
    missing = appliance("backup", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x"))
    assert missing.returncode == 1 and "appliance init" in missing.stderr
    weak = tmp_path / "weak"
    weak.write_text("short")
    refused = appliance("init", "--data-dir", str(tmp_path / "b2"), "--admin", "a", "--password-file", str(weak))
    assert refused.returncode == 1 and "at least" in refused.stderr
    assert not (tmp_path / "b2" / "netsenx.db").exists()
