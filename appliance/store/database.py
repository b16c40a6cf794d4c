"""The store handle the API workers and the engine share: one encrypted connection per thread."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator

import apsw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.store.connection import open_encrypted
from appliance.store.data_dir import DataDirectory
from appliance.store.migrations import current_version, latest_version
from appliance.store.sqlite3_adapter import Connection


def _sqlite_utils_without_pandas():
    """sqlite_utils imports pandas, when installed, only to store pandas values, which the store never holds;
    shap installs pandas, and importing it is most of the start of every process that opens the store (every
    CLI command, each API worker). Hidden while sqlite_utils loads; whatever imports pandas later still gets it."""
    if "pandas" in sys.modules:
        import sqlite_utils
    else:
        sys.modules["pandas"] = None  # the import machinery reads None as "not installed"
        try:
            import sqlite_utils
        finally:
            del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _sqlite_utils_without_pandas()


class SchemaMismatch(Exception):
    pass


@contextlib.contextmanager
def immediate_transaction(connection: apsw.Connection) -> Iterator[apsw.Connection]:
    """BEGIN IMMEDIATE: the write lock up front, so no other process writes between this one's read and write.
    Committed at the end, rolled back on any exception."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


class Store:
    """Thread-local connections to the encrypted database.

    SQLite serialises writers itself (WAL: many readers, one writer); a connection per thread keeps
    one request's transaction from interleaving with another's.
    """

    def __init__(self, data_dir: DataDirectory, key: bytes) -> None:
        self.data_dir = data_dir
        self._key = key
        self._local = threading.local()
        self._all: list[apsw.Connection] = []
        self._lock = threading.Lock()
        version = current_version(self.connection())
        if version != latest_version():
            raise SchemaMismatch(
                f"the database schema is at version {version}, this software needs {latest_version()}: "
                "run `appliance migrate`"
            )

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for other encrypted evidence (the packet store), derived from the store's own key: it opens
        only where the store opens, and a sealed box keeps it sealed too."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"netsenx {purpose}".encode()).derive(
            self._key)

    def connection(self) -> apsw.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = open_encrypted(self.data_dir.database, self._key)
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over this thread's connection, for inserts and upserts."""
        database = getattr(self._local, "db", None)
        if database is None:
            database = sqlite_utils.Database(Connection(self.connection()))
            self._local.db = database
        return database

    def query(self, sql: str, parameters=()) -> list[dict]:
        cursor = self.connection().cursor()
        rows = cursor.execute(sql, parameters)
        try:
            names = [column[0] for column in cursor.description]
        except apsw.ExecutionCompleteError:
            return []
        return [dict(zip(names, row, strict=True)) for row in rows]

    def query_one(self, sql: str, parameters=()) -> dict | None:
        rows = self.query(sql, parameters)
        return rows[0] if rows else None

    def execute(self, sql: str, parameters=()) -> int:
        """Run a statement; returns the number of rows it changed."""
        connection = self.connection()
        before = connection.total_changes()
        connection.execute(sql, parameters)
        return connection.total_changes() - before

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[apsw.Connection]:
        """BEGIN IMMEDIATE: take the write lock up front, so a read-then-write never fails half way
        because another process (an API worker, the engine) wrote in between. Nests as a savepoint."""
        connection = self.connection()
        if not connection.get_autocommit():
            with connection:
                yield connection
            return
        with immediate_transaction(connection):
            yield connection

    def get_setting(self, key: str, default=None):
        row = self.query_one("SELECT value FROM settings WHERE key = ?", (key,))
        return default if row is None else json.loads(row["value"])

    def set_setting(self, key: str, value) -> None:
        self.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()
