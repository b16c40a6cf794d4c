from __future__ import annotations

import sqlite3

import pytest


def test_sqlite_utils_over_the_encrypted_connection(store):
    db = store.db()
    db["scratch"].insert_all([{"id": n, "name": f"n{n}"} for n in range(5)], pk="id")
    assert db["scratch"].count == 5
    assert db["scratch"].get(3) == {"id": 3, "name": "n3"}
    db["scratch"].upsert({"id": 3, "name": "changed"}, pk="id")
    assert db["scratch"].get(3)["name"] == "changed"
    assert "scratch" in db.table_names() and [c.name for c in db["scratch"].columns] == ["id", "name"]
    cursor = db.execute("UPDATE scratch SET name = 'x' WHERE id < 2")
    assert cursor.rowcount == 2
    assert db["scratch"].insert({"id": 99, "name": "last"}).last_pk == 99


def test_errors_are_sqlite3_classes(store):
    db = store.db()
    db["unique_things"].insert({"id": 1}, pk="id")
    with pytest.raises(sqlite3.IntegrityError):
        db["unique_things"].insert({"id": 1})
    with pytest.raises(sqlite3.OperationalError):
        db.execute("SELECT * FROM no_such_table")
