"""Login attempts and their outcomes per flow, as the protocol extractors see them.

An extractor counts an attempt when the credentials go out (a PASS command, a bind request, a handshake
response) and its outcome when the server's answer shows it; an attempt whose answer never comes stays an
attempt only. Extractors that infer both at once (SSH, from packet sizes) count them together. The
metadata extractor collects the counts after each batch and they land in the flow's record.
"""

from __future__ import annotations

ATTEMPTS, FAILURES, SUCCESSES = range(3)


class AuthLedger:
    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}

    def _row(self, flow_uid: str) -> list[int]:
        row = self._counts.get(flow_uid)
        if row is None:
            row = self._counts[flow_uid] = [0, 0, 0]
        return row

    def attempt(self, flow_uid: str) -> None:
        self._row(flow_uid)[ATTEMPTS] += 1

    def outcome(self, flow_uid: str, success: bool) -> None:
        """The outcome of an attempt already counted."""
        self._row(flow_uid)[SUCCESSES if success else FAILURES] += 1

    def attempt_with_outcome(self, flow_uid: str, success: bool) -> None:
        row = self._row(flow_uid)
        row[ATTEMPTS] += 1
        row[SUCCESSES if success else FAILURES] += 1

    def counts(self, flow_uid: str) -> tuple[int, int, int]:
        row = self._counts.get(flow_uid, (0, 0, 0))
        return row[ATTEMPTS], row[FAILURES], row[SUCCESSES]

    def take(self) -> dict[str, tuple[int, int, int]]:
        """The counts since the last call, by flow uid (attempts, failures, successes)."""
        counts, self._counts = self._counts, {}
        return {uid: (row[ATTEMPTS], row[FAILURES], row[SUCCESSES]) for uid, row in counts.items()}
