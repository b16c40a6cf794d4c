"""Versioned schema migrations: numbered SQL files applied in order, tracked by PRAGMA user_version.

A migration file is never edited once released; a change to the schema is a new file. Each one runs in
its own transaction together with the version bump, so a crash leaves the database at a whole version.
"""

from __future__ import annotations

from importlib import resources

import apsw


def available() -> list[tuple[int, str]]:
    """(version, sql) for every migration shipped, in order."""
    files = [f for f in resources.files(__package__).iterdir() if f.name.endswith(".sql")]
    migrations = sorted((int(f.name.split("_", 1)[0]), f.read_text()) for f in files)
    versions = [version for version, _ in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migration numbering has gaps: {versions}")
    return migrations


def latest_version() -> int:
    return len(available())


def current_version(connection: apsw.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchall()[0][0]


def migrate(connection: apsw.Connection, target: int | None = None) -> list[int]:
    """Bring the schema up to `target` (default: latest). Returns the versions applied."""
    target = latest_version() if target is None else target
    version = current_version(connection)
    if version > latest_version():
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this software ({latest_version()})"
        )
    applied = []
    for number, sql in available():
        if version < number <= target:
            with connection:
                connection.execute(sql)
                connection.execute(f"PRAGMA user_version = {number}")
            applied.append(number)
    return applied
