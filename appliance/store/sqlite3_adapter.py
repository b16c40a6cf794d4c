"""Let sqlite-utils drive an apsw connection.

sqlite-utils expects a `sqlite3.Connection`: `execute()` returning a cursor with `description`,
`lastrowid` and `rowcount`, `in_transaction`, and sqlite3's exception classes. apsw (here the
SQLite3 Multiple Ciphers build) has a different surface, so this thin adapter translates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import apsw


def translate_error(error: apsw.Error) -> sqlite3.Error:
    if isinstance(error, apsw.ConstraintError):
        return sqlite3.IntegrityError(str(error))
    if isinstance(error, (apsw.SQLError, apsw.BusyError, apsw.LockedError, apsw.ReadOnlyError)):
        return sqlite3.OperationalError(str(error))
    return sqlite3.DatabaseError(str(error))


class Cursor:
    def __init__(self, connection: apsw.Connection) -> None:
        self._connection = connection
        self._cursor = connection.cursor()
        self._rows: Iterator[tuple] = iter(())
        self.description: tuple | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        changes_before = self._connection.total_changes()
        try:
            self._rows = self._cursor.execute(sql, parameters)
            try:
                self.description = tuple(self._cursor.description)
            except apsw.ExecutionCompleteError:
                self.description = None
        except apsw.Error as error:
            raise translate_error(error) from error
        changed = self._connection.total_changes() - changes_before
        self.rowcount = changed if self.description is None else -1
        self.lastrowid = self._connection.last_insert_rowid()
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        changes_before = self._connection.total_changes()
        try:
            for _ in self._cursor.executemany(sql, seq_of_parameters):
                pass
        except apsw.Error as error:
            raise translate_error(error) from error
        self.description = None
        self.rowcount = self._connection.total_changes() - changes_before
        self.lastrowid = self._connection.last_insert_rowid()
        return self

    def fetchone(self) -> tuple | None:
        return next(self._rows, None)

    def fetchmany(self, size: int = 1) -> list[tuple]:
        return [row for _, row in zip(range(size), self._rows, strict=False)]

    def fetchall(self) -> list[tuple]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple]:
        return self._rows

    def close(self) -> None:
        self._cursor.close()


class Connection:
    """A `sqlite3.Connection` look-alike over an `apsw.Connection`."""

    isolation_level: str | None = None

    def __init__(self, connection: apsw.Connection) -> None:
        self.apsw = connection

    @property
    def in_transaction(self) -> bool:
        return not self.apsw.get_autocommit()

    def cursor(self) -> Cursor:
        return Cursor(self.apsw)

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql: str) -> Cursor:
        return self.cursor().execute(sql)

    def create_function(self, name: str, narg: int, func, *, deterministic: bool = False) -> None:
        self.apsw.create_scalar_function(name, func, narg, deterministic=deterministic)

    def commit(self) -> None:
        if self.in_transaction:
            self.apsw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.apsw.execute("ROLLBACK")

    def close(self) -> None:
        self.apsw.close()
