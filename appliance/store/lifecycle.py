"""Create, rekey, back up and restore the encrypted database."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import apsw

from appliance.cli.progress import ReportProgress, no_progress
from appliance.store import keys
from appliance.store.connection import WrongKeyError, open_encrypted
from appliance.store.data_dir import DataDirectory, write_private_file
from appliance.store.migrations import latest_version, migrate

BACKUP_MAGIC = b"NETSENX-BACKUP-1\n"
BACKUP_STEP_PAGES = 256  # 1 MiB of 4 KiB pages between two reports of progress
COPY_CHUNK = 1 << 20


class BackupError(Exception):
    pass


def create_database(data_dir: DataDirectory, passphrase: str | None = None) -> bytes:
    """Make a new data directory with an encrypted, migrated database. Returns the data key."""
    if data_dir.is_initialised():
        raise FileExistsError(f"{data_dir.root} already holds a database")
    data_dir.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir.root, 0o700)
    if passphrase is None:
        key = keys.generate_key()
        keys.store_key_file(data_dir, key)
    else:
        key = keys.store_passphrase_parameters(data_dir, passphrase)
    previous_umask = os.umask(0o077)  # the database, its WAL and shared memory: owner only
    try:
        connection = open_encrypted(data_dir.database, key)
    finally:
        os.umask(previous_umask)
    try:
        migrate(connection)
        connection.execute(
            "INSERT INTO settings (key, value) VALUES ('token_signing_secret', ?)",
            (json.dumps(secrets.token_hex(32)),),
        )
    finally:
        connection.close()
    return key


def key_fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"netsenx-key-id" + key).hexdigest()[:16]


def rekey(
    data_dir: DataDirectory, old_key: bytes, new_passphrase: str | None = None, progress: ReportProgress = no_progress
) -> bytes:
    """Re-encrypt every page under a new key (random, or from a new passphrase). Service must be stopped.

    The new key material is written next to the old one first and swapped in only after SQLite has
    re-encrypted the file, so a crash in between leaves a database one of the two keys still opens.
    """
    connection = open_encrypted(data_dir.database, old_key)
    try:
        # sqlite3mc cannot rekey in WAL mode: fold the WAL in and switch to a rollback journal for the rekey.
        progress("folding the WAL in", 0, None, "")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode = DELETE")
        pages = connection.execute("PRAGMA page_count").fetchall()[0][0]
        if new_passphrase is None:
            new_key = keys.generate_key()
            pending = data_dir.key_file.with_name("data.key.new")
            write_private_file(pending, new_key.hex().encode() + b"\n")
        else:
            salt = secrets.token_bytes(16)
            new_key = keys.derive_key(new_passphrase, salt)
            pending = data_dir.sealing_file.with_name("sealing.json.new")
            write_private_file(
                pending,
                json.dumps(
                    {"kdf": "scrypt", "salt": salt.hex(), "n": keys.SCRYPT_N, "r": keys.SCRYPT_R, "p": keys.SCRYPT_P}
                ).encode(),
            )
        progress("re-encrypting pages", 0, pages, "pages")  # one statement: SQLite tells nothing until it ends
        connection.execute(f"PRAGMA hexrekey = '{new_key.hex()}'")
        progress("re-encrypting pages", pages, pages, "pages")
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()
    if new_passphrase is None:
        os.replace(pending, data_dir.key_file)
        data_dir.sealing_file.unlink(missing_ok=True)
    else:
        os.replace(pending, data_dir.sealing_file)
        data_dir.key_file.unlink(missing_ok=True)
        keys.forget_unsealed_key(data_dir)
    return new_key


def copy_pages(source: apsw.Connection, target: apsw.Connection, progress: ReportProgress) -> None:
    """SQLite's online backup of `source` into `target`, BACKUP_STEP_PAGES at a time so that progress shows.
    The source's read transaction stays open across the steps: the copy is one snapshot, as a single step's
    is, and what a running box commits meanwhile neither ends up half in it nor restarts it."""
    source.execute("BEGIN")
    source.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # the snapshot every step reads
    try:
        with target.backup("main", source, "main") as copy:
            while not copy.step(BACKUP_STEP_PAGES):
                progress("copying pages", copy.page_count - copy.remaining, copy.page_count, "pages")
            progress("copying pages", copy.page_count, copy.page_count, "pages")
    finally:
        source.execute("COMMIT")


def copy_file(source, out, size: int, stage: str, progress: ReportProgress) -> None:
    """The rest of `source` (an open file) into `out`, `size` bytes expected."""
    done = 0
    progress(stage, done, size, "bytes")
    while chunk := source.read(COPY_CHUNK):
        out.write(chunk)
        done += len(chunk)
        progress(stage, done, size, "bytes")


def backup(data_dir: DataDirectory, key: bytes, destination: Path, progress: ReportProgress = no_progress) -> dict:
    """Online backup: a consistent snapshot while the box keeps running, still encrypted page by page.

    The file is a one-line JSON header (how to get the key back: the KDF salt, or the key's fingerprint)
    followed by the encrypted database image.
    """
    destination = Path(destination)
    snapshot = destination.with_name(destination.name + ".partial")
    snapshot.unlink(missing_ok=True)
    source = open_encrypted(data_dir.database, key, readonly=True)
    target = open_encrypted(snapshot, key)
    try:
        copy_pages(source, target, progress)
        target.execute("PRAGMA journal_mode = DELETE")
        version = target.execute("PRAGMA user_version").fetchall()[0][0]
    finally:
        target.close()
        source.close()
    header = {"schema_version": version, "key_fingerprint": key_fingerprint(key)}
    if keys.key_mode(data_dir) == "passphrase":
        header["sealing"] = json.loads(data_dir.sealing_file.read_text())
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out, open(snapshot, "rb") as image:
        out.write(BACKUP_MAGIC + json.dumps(header).encode() + b"\n")
        copy_file(image, out, os.fstat(image.fileno()).st_size, "writing the backup file", progress)
        out.flush()
        os.fsync(out.fileno())
    for leftover in (snapshot, snapshot.with_name(snapshot.name + "-wal"), snapshot.with_name(snapshot.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return header


def read_backup_header(path: Path) -> dict:
    with open(path, "rb") as source:
        if source.read(len(BACKUP_MAGIC)) != BACKUP_MAGIC:
            raise BackupError(f"{path} is not a NetSenX backup")
        line = source.readline(65536)
    try:
        return json.loads(line)
    except ValueError as error:
        raise BackupError(f"{path}: the backup header is damaged") from error


def backup_key(header: dict, passphrase: str | None, key: bytes | None) -> bytes:
    """The key a backup was made with, from its passphrase or from a key the caller holds."""
    if "sealing" in header and passphrase is not None:
        sealing = header["sealing"]
        return keys.derive_key(passphrase, bytes.fromhex(sealing["salt"]), sealing["n"], sealing["r"], sealing["p"])
    if key is None:
        raise BackupError("this backup needs its passphrase or key file")
    if key_fingerprint(key) != header.get("key_fingerprint"):
        raise BackupError("this backup was made with a different key: give the key file or passphrase it was made with")
    return key


def restore(
    data_dir: DataDirectory, live_key: bytes, source: Path, source_key: bytes, progress: ReportProgress = no_progress
) -> int:
    """Replace the database's content with a backup's, checked fully before anything live is touched.

    Returns the schema version after restore (older backups are migrated forward).
    """
    source = Path(source)
    header = read_backup_header(source)
    staging = data_dir.root / f".restore-{secrets.token_hex(4)}.db"
    try:
        with open(source, "rb") as image, open(staging, "wb") as out:
            image.readline()
            image.readline()
            size = os.fstat(image.fileno()).st_size - image.tell()
            copy_file(image, out, size, "reading the backup", progress)
        os.chmod(staging, 0o600)
        try:
            restored = open_encrypted(staging, source_key)
        except WrongKeyError as error:
            raise BackupError("the backup does not open with that key") from error
        try:
            progress("checking the backup's integrity", 0, None, "")
            check = restored.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise BackupError(f"the backup is damaged: {check[0][0]}")
            if header.get("schema_version", 0) > latest_version():
                raise BackupError("the backup comes from a newer version of this software")
            if source_key != live_key:
                progress("re-encrypting under the box's key", 0, None, "")
                restored.execute("PRAGMA journal_mode = DELETE")
                restored.execute(f"PRAGMA hexrekey = '{live_key.hex()}'")
            live = open_encrypted(data_dir.database, live_key)
            try:
                copy_pages(restored, live, progress)
                progress("migrating the schema", 0, None, "")
                migrate(live)
                return live.execute("PRAGMA user_version").fetchall()[0][0]
            finally:
                live.close()
        finally:
            restored.close()
    except apsw.Error as error:
        raise BackupError(f"the backup could not be read: {error}") from error
    finally:
        for leftover in (
            staging,
            staging.with_name(staging.name + "-wal"),
            staging.with_name(staging.name + "-shm"),
            staging.with_name(staging.name + "-journal"),
        ):
            leftover.unlink(missing_ok=True)
