"""init, migrate, rekey, backup, restore: the encrypted store's lifecycle."""

from __future__ import annotations

import os
import time
from pathlib import Path

from appliance.cli.errors import CliError
from appliance.cli.progress import Progress
from appliance.cli.secrets_input import read_secret_file, secret
from appliance.store import keys, lifecycle
from appliance.store.connection import WrongKeyError, open_encrypted
from appliance.store.data_dir import DataDirectory
from appliance.store.migrations import current_version, latest_version, migrate


def register(subparsers) -> None:
    init = subparsers.add_parser(
        "init", help="create the data directory, encrypted database, admin and TLS certificate"
    )
    init.add_argument("--data-dir", required=True)
    init.add_argument("--admin", required=True, help="the first admin's username")
    init.add_argument("--password-file", help="file holding the admin's password (asked for when absent)")
    init.add_argument(
        "--passphrase-file", help="derive the database key from this passphrase (sealed mode) instead of a key file"
    )
    init.set_defaults(run=run_init)

    migrate_parser = subparsers.add_parser("migrate", help="bring the database schema up to this version")
    add_key_arguments(migrate_parser)
    migrate_parser.set_defaults(run=run_migrate)

    rekey = subparsers.add_parser("rekey", help="re-encrypt the database under a new key (service stopped)")
    add_key_arguments(rekey)
    rekey.add_argument(
        "--new-passphrase-file", help="switch to (or change) a passphrase; without it a new random key file"
    )
    rekey.set_defaults(run=run_rekey)

    backup = subparsers.add_parser("backup", help="online, encrypted backup of the database")
    add_key_arguments(backup)
    backup.add_argument("--out", required=True)
    backup.set_defaults(run=run_backup)

    restore = subparsers.add_parser("restore", help="replace the database's content with a backup's")
    add_key_arguments(restore)
    restore.add_argument("--from", dest="source", required=True)
    restore.add_argument("--backup-key-file", help="the key file the backup was made with, if not the current one")
    restore.add_argument("--backup-passphrase-file", help="the passphrase the backup was made with, if different")
    restore.set_defaults(run=run_restore)

    seal = subparsers.add_parser(
        "seal", help="wipe the shared unsealed key: what starts next waits for the passphrase (run when the API stops)"
    )
    seal.add_argument("--data-dir", required=True)
    seal.set_defaults(run=run_seal)


def add_key_arguments(parser) -> None:
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--passphrase-file", help="the database passphrase (sealed mode)")


def initialised_data_dir(path: str) -> DataDirectory:
    data_dir = DataDirectory.at(path)
    if not data_dir.is_initialised():
        raise CliError(f"{data_dir.root} holds no NetSenX database: run `appliance init` first")
    return data_dir


def current_key(data_dir: DataDirectory, passphrase_file: str | None) -> bytes:
    """The data key: the key file, the running box's unsealed key, or the passphrase."""
    if keys.key_mode(data_dir) == "key-file":
        return keys.read_key_file(data_dir.key_file)
    if passphrase_file:
        key = keys.key_from_passphrase(data_dir, read_secret_file(passphrase_file, "passphrase"))
    else:
        key = keys.unsealed_key(data_dir) or keys.key_from_passphrase(data_dir, secret(None, "passphrase"))
    try:
        open_encrypted(data_dir.database, key, readonly=True).close()
    except WrongKeyError as error:
        raise CliError("wrong passphrase") from error
    return key


def ensure_stopped(data_dir: DataDirectory) -> None:
    pid_file = data_dir.runtime / "granian.pid"
    if not pid_file.exists():
        return
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (ValueError, ProcessLookupError):
        return
    raise CliError("the box is running: stop the service before this command")


def run_init(args) -> int:
    from appliance.auth import users
    from appliance.auth.passwords import check_strength
    from appliance.server.tls import create_self_signed_certificate
    from appliance.store.database import Store

    data_dir = DataDirectory.at(args.data_dir)
    if data_dir.is_initialised():
        raise CliError(f"{data_dir.root} already holds a database; nothing was changed")
    password = secret(args.password_file, "password", confirm=True)
    try:
        users.validate_username(args.admin)
        check_strength(password, args.admin)
    except ValueError as error:
        raise CliError(str(error)) from error
    passphrase = read_secret_file(args.passphrase_file, "passphrase") if args.passphrase_file else None
    key = lifecycle.create_database(data_dir, passphrase)
    store = Store(data_dir, key)
    try:
        users.create_user(store, args.admin, password, "admin")
    finally:
        store.close()
    create_self_signed_certificate(data_dir)
    mode = "sealed (passphrase)" if passphrase else "key file"
    print(f"initialised {data_dir.root}: encrypted database ({mode}), admin {args.admin!r}, TLS certificate")
    return 0


def run_migrate(args) -> int:
    data_dir = initialised_data_dir(args.data_dir)
    connection = open_encrypted(data_dir.database, current_key(data_dir, args.passphrase_file))
    try:
        before = current_version(connection)
        applied = migrate(connection)
    finally:
        connection.close()
    print(f"schema version {before} -> {latest_version()} (applied: {applied or 'none'})")
    return 0


def run_rekey(args) -> int:
    data_dir = initialised_data_dir(args.data_dir)
    ensure_stopped(data_dir)
    old_key = current_key(data_dir, args.passphrase_file)
    new_passphrase = read_secret_file(args.new_passphrase_file, "passphrase") if args.new_passphrase_file else None
    with Progress("rekey") as progress:
        lifecycle.rekey(data_dir, old_key, new_passphrase, progress)
    print("re-encrypted under a new " + ("passphrase" if new_passphrase else "random key file"))
    return 0


def run_backup(args) -> int:
    from appliance.compliance.readiness import LAST_BACKUP_SETTING
    from appliance.store.database import Store

    data_dir = initialised_data_dir(args.data_dir)
    key = current_key(data_dir, args.passphrase_file)
    with Progress("backup") as progress:
        header = lifecycle.backup(data_dir, key, Path(args.out), progress)
    store = Store(data_dir, key)
    try:
        # The NIS2 readiness check (backups, Art.21(2)(c)) looks for this.
        store.set_setting(LAST_BACKUP_SETTING, time.time())
    finally:
        store.close()
    print(f"backup written to {args.out} (schema {header['schema_version']}, key {header['key_fingerprint']})")
    return 0


def run_restore(args) -> int:
    data_dir = initialised_data_dir(args.data_dir)
    live_key = current_key(data_dir, args.passphrase_file)
    header = lifecycle.read_backup_header(Path(args.source))
    if args.backup_passphrase_file:
        source_key = lifecycle.backup_key(header, read_secret_file(args.backup_passphrase_file, "passphrase"), None)
    elif args.backup_key_file:
        source_key = lifecycle.backup_key(header, None, keys.read_key_file(args.backup_key_file))
    else:
        source_key = lifecycle.backup_key(header, None, live_key)
    with Progress("restore") as progress:
        version = lifecycle.restore(data_dir, live_key, Path(args.source), source_key, progress)
    print(f"restored {args.source} (schema version {version})")
    return 0


def run_seal(args) -> int:
    """The API unit's ExecStopPost: also after a crash or a kill, which leave the server no time to wipe it."""
    data_dir = DataDirectory.at(args.data_dir)
    if keys.forget_unsealed_key(data_dir):
        print(f"sealed {data_dir.root}: the unsealed key is wiped; a restarted API or engine needs the passphrase")
    else:
        print(f"{data_dir.root}: no unsealed key to wipe")
    return 0
