"""Erase the box: destroy the data key first, then every file it wrote.

The database is encrypted page by page, so destroying the key is what makes every copy of it unreadable,
including copies this code cannot reach (a disk image, a file a thief took). The key material is
overwritten before it is unlinked; on tmpfs (the unsealed key) that removes it from RAM, on a journaling
file system or an SSD the old blocks may survive, which is why the key is the only thing that matters.
Limits: a backup made in passphrase mode can still be opened by whoever knows the passphrase (its header
carries the salt); a process that still has the database open (another API worker until its next request,
a running engine) keeps the key in its memory until it exits.

Every other file under the data directory is truncated before it is unlinked, so the blocks are released
even while another process still holds the file open. SQLite's shared-memory files (-shm) are only unlinked:
other processes map them, and truncating a mapped file kills those processes with SIGBUS. They hold page
numbers, not content.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import msgspec

from appliance.store.data_dir import DataDirectory

# Process bookkeeping in the runtime directory that holds no data and that running processes still need
# (`appliance` checks the pid file to refuse commands while the service runs; the locks elect workers).
RUNTIME_KEEP_SUFFIXES = (".pid", ".lock")

ERASED_DETAIL = "this box has been erased; run `appliance init`, then restart the service"


class ErasureReceipt(msgspec.Struct):
    status: str
    erased_at: str
    data_dir: str
    destroyed: list[str]  # every path removed, key material first
    detail: str


class NothingToErase(Exception):
    pass


def key_material(data_dir: DataDirectory) -> list[Path]:
    """Everything that opens (or helps open) the database or impersonates the box's TLS endpoint."""
    candidates = [data_dir.unsealed_key_file, data_dir.certificate_key]
    if data_dir.keys.is_dir():
        candidates += sorted(path for path in data_dir.keys.iterdir() if path.is_file())
    return [path for path in candidates if path.exists()]


def database_files(data_dir: DataDirectory) -> list[Path]:
    base = data_dir.database
    candidates = [base] + [base.with_name(base.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    return [path for path in candidates if path.exists()]


def remaining_files(root: Path, keep=lambda path: False) -> list[Path]:
    return sorted(path for path in root.rglob("*") if (path.is_file() or path.is_symlink()) and not keep(path))


def is_runtime_bookkeeping(path: Path) -> bool:
    return path.name.endswith(RUNTIME_KEEP_SUFFIXES)


def overwrite_and_unlink(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b", buffering=0) as file:
        file.write(secrets.token_bytes(max(size, 64)))
        os.fsync(file.fileno())
    path.unlink()


def truncate_and_unlink(path: Path) -> None:
    if not path.is_symlink() and not path.name.endswith("-shm"):
        os.truncate(path, 0)
    path.unlink()


def remove_empty_directories(root: Path) -> None:
    deepest_first = sorted((path for path in root.rglob("*") if path.is_dir()), key=lambda p: -len(p.parts))
    for directory in deepest_first:
        if not any(directory.iterdir()):
            directory.rmdir()


def erase(data_dir: DataDirectory) -> ErasureReceipt:
    """Irreversibly destroy everything the box holds. Close the open store before calling this."""
    if not data_dir.root.is_dir():
        raise NothingToErase(f"{data_dir.root} does not exist: nothing to erase")
    keys = key_material(data_dir)
    if not keys and not data_dir.database.exists():
        raise NothingToErase(f"{data_dir.root} holds no NetSenX database or key: nothing to erase")
    destroyed: list[Path] = []
    for path in keys:  # from here on, the database and every copy of it is noise
        overwrite_and_unlink(path)
        destroyed.append(path)
    for path in database_files(data_dir):
        truncate_and_unlink(path)
        destroyed.append(path)
    for path in remaining_files(data_dir.root):  # TLS, logs, whatever else was written here
        truncate_and_unlink(path)
        destroyed.append(path)
    remove_empty_directories(data_dir.root)
    if data_dir.runtime.is_dir():  # rate-limit counters (who called, from where), the API's request metrics
        for path in remaining_files(data_dir.runtime, keep=is_runtime_bookkeeping):
            # Only unlinked: running workers keep counting in it until they restart (tmpfs frees it then),
            # and a truncated SQLite file would turn their requests into errors.
            path.unlink()
            destroyed.append(path)
        remove_empty_directories(data_dir.runtime)
    return ErasureReceipt(
        status="erased",
        erased_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        data_dir=str(data_dir.root),
        destroyed=[str(path) for path in destroyed],
        detail=ERASED_DETAIL,
    )


def database_identity(data_dir: DataDirectory) -> tuple[int, int] | None:
    """The database file's (device, inode), or None once the box is erased (its key or database gone).

    Cheap enough for every request: two or three stat calls.
    """
    if not (data_dir.key_file.exists() or data_dir.sealing_file.exists()):
        return None
    try:
        status = os.stat(data_dir.database)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino
