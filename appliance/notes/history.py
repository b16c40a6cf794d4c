"""The notes history of an alert or an incident: appended, never edited, each with its author and time.

An alert's `notes` field (the seed's) keeps showing the latest note, so clients that only know that field
still see what was written last.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import msgspec

Subject = Literal["alert", "incident"]
SUBJECT_TABLES = {"alert": "alerts", "incident": "incidents"}
NOTE_MAX_LENGTH = 10_000


class Note(msgspec.Struct):
    id: int
    author: str
    written_at: float  # Unix seconds
    text: str


class NoteList(msgspec.Struct):
    notes: list[Note]  # oldest first: read as a conversation


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=NOTE_MAX_LENGTH)]


def exists(connection, subject: Subject, subject_id: str) -> bool:
    table = SUBJECT_TABLES[subject]
    return bool(connection.execute(f"SELECT 1 FROM {table} WHERE id = ?", (subject_id,)).fetchall())


def add(connection, subject: Subject, subject_id: str, author: str, text: str, now: float | None = None) -> Note:
    written_at = time.time() if now is None else now
    connection.execute(
        "INSERT INTO notes (subject, subject_id, author, written_at, text) VALUES (?, ?, ?, ?, ?)",
        (subject, subject_id, author, written_at, text),
    )
    note = Note(id=connection.last_insert_rowid(), author=author, written_at=written_at, text=text)
    if subject == "alert":
        connection.execute("UPDATE alerts SET notes = ? WHERE id = ?", (text, subject_id))
    return note


def of(connection, subject: Subject, subject_id: str) -> list[Note]:
    rows = connection.execute(
        "SELECT id, author, written_at, text FROM notes WHERE subject = ? AND subject_id = ? ORDER BY id",
        (subject, subject_id),
    ).fetchall()
    return [Note(*row) for row in rows]
