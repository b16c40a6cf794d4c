"""The GDPR export: every table of the box as JSON in a ZIP, with a manifest of checksums, streamed.

Streaming: the ZIP is written to a sink that only collects bytes (zipfile writes data descriptors when it
cannot seek), and the bytes are handed to the HTTP response every ROWS_PER_CHUNK rows. At most one chunk of
rows and the compressor's window are in memory, and no plaintext copy of the data ever touches a disk (a
spooled temp file would put decrypted data on the data disk, or the whole export in RAM on tmpfs).

Consistency: all tables are read in one read transaction on a connection of their own, so the export is
one snapshot even while the engine keeps writing. The connection is not the store's thread-local one
because the response pulls each chunk from whichever worker thread is free.

Values are the database's own: JSON columns stay the exact text that was stored, so the hash chains of
the audit log and the decision traces can be verified from the export; BLOBs become {"base64": "..."}.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zipfile
from collections.abc import Iterator

import apsw
import msgspec

from appliance import __version__
from appliance.tenant import redaction

FORMAT = "netsenx-tenant-export-1"
ROWS_PER_CHUNK = 500


class ExportedFile(msgspec.Struct):
    name: str
    sha256: str
    bytes: int
    rows: int | None  # None for files that are not a table (the rule catalogue)


class Withheld(msgspec.Struct):
    tables: dict[str, str]
    columns: dict[str, dict[str, str]]
    rows: dict[str, list[str]]  # key/value tables: the keys of rows left out (e.g. settings holding secrets)
    safe_names: dict[str, str]  # names that look secret but are exported, and why


class Manifest(msgspec.Struct):
    format: str
    box_id: str | None
    exported_at: str
    exported_at_epoch: float
    schema_version: int
    appliance_version: str
    files: list[ExportedFile]
    withheld: Withheld
    notes: list[str]


class ByteSink:
    """A write-only file for zipfile: collects what it is given until the stream takes it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class HashingWriter:
    """Writes one archive member and keeps its checksum and size for the manifest."""

    def __init__(self, member) -> None:
        self.member = member
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.member.write(data)
        self.digest.update(data)
        self.size += len(data)


def exportable_tables(connection: apsw.Connection) -> list[str]:
    """Every table and virtual table in the schema, whoever's migration added it. Left out: SQLite's own
    tables and the shadow tables of full-text indexes (their content is the virtual table's, exported)."""
    return sorted(
        name
        for _, name, kind, *_ in connection.execute("PRAGMA main.table_list")
        if kind in ("table", "virtual") and not name.startswith("sqlite_")
    )


def table_columns(connection: apsw.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f'PRAGMA main.table_info("{table}")')]


def json_value(value):
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def archive_member(archive: zipfile.ZipFile, name: str, exported_at: float):
    info = zipfile.ZipInfo(name, date_time=time.gmtime(exported_at)[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    # Sizes are unknown until the member is written and the sink cannot seek back: always ZIP64.
    return archive.open(info, "w", force_zip64=True)


class TenantExport:
    """One export of one snapshot. Iterate it for the ZIP's bytes; it closes its connection at the end."""

    def __init__(self, connection: apsw.Connection, exported_at: float) -> None:
        self.connection = connection
        self.exported_at = exported_at
        self.encoder = msgspec.json.Encoder()
        self.files: list[ExportedFile] = []
        self.withheld = Withheld(tables={}, columns={}, rows={}, safe_names=dict(redaction.SAFE_NAMES))
        self.notes: list[str] = []

    def __iter__(self) -> Iterator[bytes]:
        sink = ByteSink()
        try:
            self.connection.execute("BEGIN")
            with zipfile.ZipFile(sink, "w") as archive:
                for table in exportable_tables(self.connection):
                    if table in redaction.WITHHELD_TABLES:
                        self.withheld.tables[table] = redaction.WITHHELD_TABLES[table]
                        continue
                    for _ in self._write_table(archive, table):
                        if chunk := sink.take():
                            yield chunk
                self._write_rule_catalogue(archive)
                self._write_manifest(archive)
            yield sink.take()
        finally:
            self.connection.close()

    def _write_table(self, archive: zipfile.ZipFile, table: str) -> Iterator[None]:
        """Writes `tables/<table>.json` (a JSON array of row objects), pausing every ROWS_PER_CHUNK rows."""
        columns = table_columns(self.connection, table)
        left_out = redaction.withheld_columns(table, columns)
        if left_out:
            self.withheld.columns[table] = left_out
        kept = [column for column in columns if column not in left_out]
        keyed = "key" in kept  # a key/value table: a row whose key names a secret stays behind
        name = f"tables/{table}.json"
        rows = 0
        with archive_member(archive, name, self.exported_at) as member:
            out = HashingWriter(member)
            out.write(b"[")
            if kept:
                selected = ", ".join(f'"{column}"' for column in kept)
                for values in self.connection.execute(f'SELECT {selected} FROM "{table}"'):
                    row = dict(zip(kept, map(json_value, values), strict=True))
                    if keyed and redaction.is_secret_setting(str(row["key"])):
                        self.withheld.rows.setdefault(table, []).append(str(row["key"]))
                        continue
                    out.write(b",\n" if rows else b"\n")
                    out.write(self.encoder.encode(row))
                    rows += 1
                    if rows % ROWS_PER_CHUNK == 0:
                        yield
            out.write(b"\n]\n")
        self.files.append(ExportedFile(name=name, sha256=out.digest.hexdigest(), bytes=out.size, rows=rows))
        yield

    def _write_rule_catalogue(self, archive: zipfile.ZipFile) -> None:
        try:
            from appliance.engine.rules import rule_catalogue  # the engine may be absent from a slim build
        except ImportError as error:
            self.notes.append(f"the rule catalogue was not available: {error}")
            return
        self._write_document(archive, "rules/catalogue.json", rule_catalogue())

    def _write_manifest(self, archive: zipfile.ZipFile) -> None:
        manifest = Manifest(
            format=FORMAT,
            box_id=self._box_id(),
            exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.exported_at)),
            exported_at_epoch=self.exported_at,
            schema_version=self.connection.execute("PRAGMA user_version").fetchall()[0][0],
            appliance_version=__version__,
            files=self.files,
            withheld=self.withheld,
            notes=self.notes,
        )
        with archive_member(archive, "manifest.json", self.exported_at) as member:
            member.write(msgspec.json.format(msgspec.json.encode(manifest), indent=2))

    def _write_document(self, archive: zipfile.ZipFile, name: str, document) -> None:
        data = msgspec.json.format(msgspec.json.encode(document), indent=2)
        with archive_member(archive, name, self.exported_at) as member:
            member.write(data)
        self.files.append(ExportedFile(name=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), rows=None))

    def _box_id(self) -> str | None:
        row = self.connection.execute("SELECT value FROM settings WHERE key = 'box_id'").fetchall()
        return json.loads(row[0][0]) if row else None
