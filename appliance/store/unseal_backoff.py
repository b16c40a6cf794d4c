"""Back-off on unsealing: each wrong passphrase doubles the wait before the next attempt (1 s, 2 s, 4 s, ...,
at most an hour), so the passphrase cannot be guessed at the API's speed.

Counted in a small SQLite file of its own in the data directory (the encrypted store is what is sealed), so
every API worker sees the same count and a restart of the service does not reset it. Like a login, an attempt
is counted as failed in one write transaction BEFORE the passphrase is tried: a parallel burst gets one try,
not one per request. A right passphrase clears the count.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import apsw

from appliance.store.database import immediate_transaction

FIRST_DELAY_SECONDS = 1
MAX_DELAY_SECONDS = 3600


class TooSoon(Exception):
    def __init__(self, failures: int, retry_after: int) -> None:
        super().__init__(
            f"{failures} wrong passphrase(s) in a row: the next attempt is allowed in {retry_after} s"
        )
        self.retry_after = retry_after


def delay_after(failures: int) -> int:
    return 0 if failures <= 0 else min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (failures - 1))


class UnsealBackoff:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[apsw.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = apsw.Connection(str(self.path))
        try:
            connection.set_busy_timeout(10_000)
            with immediate_transaction(connection):
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS unseal_failures (id INTEGER PRIMARY KEY CHECK (id = 1), "
                    "failures INTEGER NOT NULL, next_attempt_at REAL NOT NULL)"
                )
                yield connection
        finally:
            connection.close()

    def admit(self, now: float | None = None) -> int:
        """Count an attempt as failed and return the wait that a failure now sets; TooSoon while one runs."""
        now = time.time() if now is None else now
        with self._transaction() as connection:
            row = connection.execute("SELECT failures, next_attempt_at FROM unseal_failures").fetchall()
            failures, next_attempt_at = row[0] if row else (0, 0.0)
            if next_attempt_at > now:
                raise TooSoon(failures, int(next_attempt_at - now) + 1)
            failures += 1
            connection.execute(
                "INSERT OR REPLACE INTO unseal_failures (id, failures, next_attempt_at) VALUES (1, ?, ?)",
                (failures, now + delay_after(failures)),
            )
        return delay_after(failures)

    def succeeded(self) -> None:
        with self._transaction() as connection:
            connection.execute("DELETE FROM unseal_failures")
