"""Sources (imports and feeds) and their indicators in the store (migration 0013_threat_intel.sql).

Every change that alters what matches bumps `intel_generation`; the engine compares it between batches and
reloads its indicator set when it moved. Indicators new to a source start a retro-hunt (retro_hunt.py).
"""

from __future__ import annotations

import json
import secrets
from typing import Literal

import msgspec

from appliance.intel import retro_hunt
from appliance.intel.indicators import Indicator, Kind, Parsed
from appliance.store.database import Store

SourceKind = Literal["file", "taxii", "https_list"]
Format = Literal["stix", "misp", "list"]
DAY = 86400.0


class SourceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    kind: SourceKind = "file"
    format: Format = "list"
    url: str | None = None
    collection: str | None = None
    interval_seconds: float | None = None
    ca_cert: str | None = None
    username: str | None = None
    secret: str | None = None
    tls_hashes: bool = True
    default_confidence: int = 50
    expiry_days: float | None = None


class Source(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: SourceKind
    format: Format
    url: str | None
    collection: str | None
    interval_seconds: float | None
    ca_cert: str | None
    username: str | None
    has_secret: bool  # the password itself is never shown
    enabled: bool
    tls_hashes: bool
    default_confidence: int
    expiry_days: float | None
    created_at: float
    updated_at: float
    last_attempt_at: float | None
    last_success_at: float | None
    last_result: str | None  # ok | error; None: never fetched
    last_error: str | None
    last_refused: int  # entries the last import could not read
    last_problems: list[str]  # the first of them, in words
    indicator_count: int = 0
    retro_hunt: retro_hunt.Hunt | None = None  # the latest: the past traffic its new indicators were searched in


class StoredIndicator(msgspec.Struct, kw_only=True):
    id: int
    source_id: str
    source: str  # the source's name
    kind: Kind
    value: str
    confidence: int
    domain: str | None
    description: str
    first_seen: float
    last_seen: float
    expires_at: float | None
    added_at: float


class AllowlistEntry(msgspec.Struct, kw_only=True):
    value: str
    comment: str
    created_by: str
    created_at: float


class DuplicateSource(ValueError):
    pass


_INDICATOR_COLUMNS = ("i.id, i.source_id, s.name AS source, i.kind, i.value, i.confidence, i.domain, i.description, "
                      "i.first_seen, i.last_seen, i.expires_at, i.added_at")


def _source(row: dict, hunt: retro_hunt.Hunt | None) -> Source:
    row = {**row, "enabled": bool(row["enabled"]), "tls_hashes": bool(row["tls_hashes"]),
           "last_problems": json.loads(row["last_problems"]), "has_secret": row.pop("secret") is not None}
    return msgspec.structs.replace(msgspec.convert(row, Source), retro_hunt=hunt)


def create_source(store: Store, source: SourceIn, now: float) -> Source:
    if store.query_one("SELECT 1 FROM intel_sources WHERE name = ?", (source.name,)):
        raise DuplicateSource(f"a source named {source.name!r} exists already")
    prefix = "import" if source.kind == "file" else "feed"
    source_id = f"{prefix}_{secrets.token_hex(6)}"
    fields = msgspec.structs.asdict(source)
    store.execute(
        "INSERT INTO intel_sources (id, name, kind, format, url, collection, interval_seconds, ca_cert, username, "
        "secret, tls_hashes, default_confidence, expiry_days, created_at, updated_at) VALUES (:id, :name, :kind, "
        ":format, :url, :collection, :interval_seconds, :ca_cert, :username, :secret, :tls_hashes, "
        ":default_confidence, :expiry_days, :now, :now)",
        {**fields, "id": source_id, "now": now},
    )
    return get_source(store, source_id)


def secret_of(store: Store, source_id: str) -> str | None:
    row = store.query_one("SELECT secret FROM intel_sources WHERE id = ?", (source_id,))
    return row["secret"] if row else None


def due_feeds(store: Store, now: float) -> list[Source]:
    """Enabled feeds asked for, never fetched or last fetched an interval ago: those asked for first, then the
    most overdue."""
    rows = store.query(
        "SELECT id FROM intel_sources WHERE kind != 'file' AND enabled = 1 "
        "AND (fetch_requested = 1 OR last_attempt_at IS NULL OR last_attempt_at + interval_seconds <= ?) "
        "ORDER BY fetch_requested DESC, coalesce(last_attempt_at + interval_seconds, 0)",
        (now,),
    )
    return [get_source(store, row["id"]) for row in rows]


def fetch_soon(store: Store, source_id: str) -> None:
    """The feed is fetched at the fetcher's next round."""
    store.execute("UPDATE intel_sources SET fetch_requested = 1 WHERE id = ?", (source_id,))


def get_source(store: Store, id_or_name: str) -> Source | None:
    row = store.query_one(
        "SELECT s.*, (SELECT count(*) FROM intel_indicators WHERE source_id = s.id) AS indicator_count "
        "FROM intel_sources s WHERE s.id = ? OR s.name = ?",
        (id_or_name, id_or_name),
    )
    return _source(row, retro_hunt.latest_hunts(store).get(row["id"])) if row else None


def list_sources(store: Store) -> list[Source]:
    rows = store.query(
        "SELECT s.*, coalesce(c.n, 0) AS indicator_count FROM intel_sources s "
        "LEFT JOIN (SELECT source_id, count(*) AS n FROM intel_indicators GROUP BY source_id) c ON c.source_id = s.id "
        "ORDER BY s.name"
    )
    hunts = retro_hunt.latest_hunts(store)
    return [_source(row, hunts.get(row["id"])) for row in rows]


def set_enabled(store: Store, source_id: str, enabled: bool, now: float) -> None:
    with store.write_transaction():
        store.execute("UPDATE intel_sources SET enabled = ?, updated_at = ? WHERE id = ?", (enabled, now, source_id))
        bump_generation(store)


def delete_source(store: Store, source_id: str) -> None:
    with store.write_transaction():
        store.execute("DELETE FROM intel_sources WHERE id = ?", (source_id,))
        bump_generation(store)


def store_indicators(store: Store, source: Source, parsed: Parsed, now: float, *, snapshot: bool) -> int:
    """Upsert what a source gave; `snapshot`: the source lists all it has (a file, an HTTPS list), so what it no
    longer lists is dropped. Returns how many indicators are new to this source (added_at = now)."""
    rows = [_row(source, indicator, now) for indicator in _latest(parsed.indicators)]
    with store.write_transaction() as connection:
        before = _count(store, source.id)
        connection.executemany(
            "INSERT INTO intel_indicators (source_id, kind, value, confidence, domain, description, first_seen, "
            "last_seen, expires_at, added_at, listed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source_id, kind, value) DO UPDATE SET confidence = excluded.confidence, "
            "domain = coalesce(excluded.domain, domain), description = excluded.description, "
            "first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen), "
            "expires_at = excluded.expires_at, listed_at = excluded.listed_at",
            rows,
        )
        added = _count(store, source.id) - before
        if snapshot:
            connection.execute("DELETE FROM intel_indicators WHERE source_id = ? AND listed_at < ?", (source.id, now))
        record_result(store, source.id, now, None, parsed)
        bump_generation(store)
        if added:
            retro_hunt.record_new(store, source.id, now, added, generation(store))
    return added


def _latest(indicators: list[Indicator]) -> list[Indicator]:
    """One per (kind, value): a source may list the same indicator twice (a STIX bundle with two versions)."""
    return list({(indicator.kind, indicator.value): indicator for indicator in indicators}.values())


def _row(source: Source, indicator: Indicator, now: float) -> tuple:
    last_seen = indicator.last_seen or now
    expires = indicator.expires_at
    if expires is None and source.expiry_days is not None:
        expires = last_seen + source.expiry_days * DAY
    return (source.id, indicator.kind, indicator.value, indicator.confidence, indicator.domain, indicator.description,
            indicator.first_seen or now, last_seen, expires, now, now)


def _count(store: Store, source_id: str) -> int:
    return store.query_one("SELECT count(*) AS n FROM intel_indicators WHERE source_id = ?", (source_id,))["n"]


def record_result(store: Store, source_id: str, now: float, error: str | None, parsed: Parsed | None = None) -> None:
    problems = parsed.problems if parsed else []
    store.execute(
        "UPDATE intel_sources SET last_attempt_at = :now, fetch_requested = 0, last_result = :result, "
        "last_error = :error, "
        "last_success_at = CASE WHEN :error IS NULL THEN :now ELSE last_success_at END, "
        "last_refused = :refused, last_problems = :problems WHERE id = :id",
        {"now": now, "result": "error" if error else "ok", "error": error, "id": source_id,
         "refused": parsed.refused if parsed else 0, "problems": json.dumps(problems)},
    )


def bump_generation(store: Store) -> None:
    store.execute("UPDATE intel_generation SET generation = generation + 1")


def generation(store: Store) -> int:
    return store.query_one("SELECT generation FROM intel_generation")["generation"]


def list_indicators(store: Store, *, source_id: str | None = None, kind: str | None = None, limit: int = 100,
                    offset: int = 0) -> tuple[list[StoredIndicator], int]:
    where, parameters = ["1"], []
    if source_id:
        where.append("i.source_id = ?")
        parameters.append(source_id)
    if kind:
        where.append("i.kind = ?")
        parameters.append(kind)
    condition = " AND ".join(where)
    total = store.query_one(f"SELECT count(*) AS n FROM intel_indicators i WHERE {condition}", parameters)["n"]
    rows = store.query(
        f"SELECT {_INDICATOR_COLUMNS} FROM intel_indicators i JOIN intel_sources s ON s.id = i.source_id "
        f"WHERE {condition} ORDER BY i.last_seen DESC, i.id LIMIT ? OFFSET ?",
        [*parameters, limit, offset],
    )
    return [msgspec.convert(row, StoredIndicator) for row in rows], total


def indicators_with_values(store: Store, values: list[str]) -> list[StoredIndicator]:
    marks = ",".join("?" * len(values))
    rows = store.query(
        f"SELECT {_INDICATOR_COLUMNS} FROM intel_indicators i JOIN intel_sources s ON s.id = i.source_id "
        f"WHERE i.value IN ({marks}) ORDER BY s.name, i.kind",
        values,
    )
    return [msgspec.convert(row, StoredIndicator) for row in rows]


def networks(store: Store) -> list[StoredIndicator]:
    """Every CIDR indicator (a search for an address checks which contain it)."""
    rows = store.query(
        f"SELECT {_INDICATOR_COLUMNS} FROM intel_indicators i JOIN intel_sources s ON s.id = i.source_id "
        "WHERE i.kind = 'cidr'"
    )
    return [msgspec.convert(row, StoredIndicator) for row in rows]


def matchable(store: Store):
    """(kind, value, confidence, domain, expires_at, source name, description) of every indicator of an enabled
    source, streamed: the engine compiles them (matching.py) without holding a million dicts."""
    cursor = store.connection().cursor()
    return cursor.execute(
        "SELECT i.kind, i.value, i.confidence, i.domain, i.expires_at, s.name, i.description "
        "FROM intel_indicators i JOIN intel_sources s ON s.id = i.source_id WHERE s.enabled = 1"
    )


# --- the site's allowlist --------------------------------------------------------------------------------------
def allowlist(store: Store) -> list[AllowlistEntry]:
    rows = store.query("SELECT value, comment, created_by, created_at FROM intel_allowlist ORDER BY value")
    return [msgspec.convert(row, AllowlistEntry) for row in rows]


def allow(store: Store, value: str, comment: str, user: str, now: float) -> AllowlistEntry:
    with store.write_transaction():
        store.execute(
            "INSERT INTO intel_allowlist (value, comment, created_by, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (value) DO UPDATE SET comment = excluded.comment",
            (value, comment, user, now),
        )
        bump_generation(store)
    return msgspec.convert(store.query_one("SELECT * FROM intel_allowlist WHERE value = ?", (value,)), AllowlistEntry)


def disallow(store: Store, value: str) -> bool:
    with store.write_transaction():
        removed = store.execute("DELETE FROM intel_allowlist WHERE value = ?", (value,))
        bump_generation(store)
    return bool(removed)
