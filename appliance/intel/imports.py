"""Load indicators from a file (air-gapped boxes) or from what a feed fetched: parse in the source's format, store.

A file or a list feed is a snapshot: what it no longer lists is dropped from its source. An import that yields
no indicator at all is an error and changes nothing (a wrong format, an HTML error page instead of a list).
"""

from __future__ import annotations

import json

import msgspec

from appliance.intel import misp, plain_lists, repository, stix
from appliance.intel.indicators import Parsed
from appliance.intel.repository import Format, Source, SourceIn
from appliance.store.database import Store

MAX_FILE_BYTES = 256 * 1024 * 1024


class ImportResult(msgspec.Struct, kw_only=True):
    source: Source
    received: int  # indicators read
    added: int  # new to this source
    refused: int  # entries that were not indicators of a known kind
    problems: list[str]  # the first of them, in words


class ImportFailed(ValueError):
    pass


def parse(format: Format, data: bytes, source: Source | SourceIn) -> Parsed:
    if format == "stix":
        return stix.parse_bundle(data)
    if format == "misp":
        return misp.parse_events(data)
    return plain_lists.parse_list(data, tls_hashes=source.tls_hashes, default_confidence=source.default_confidence)


def guess_format(data: bytes) -> Format:
    """stix for a bundle, misp for an event, else a list."""
    if not data.lstrip().startswith((b"{", b"[")):
        return "list"
    try:
        document = json.loads(data)
    except ValueError:
        return "list"  # parsing it as a list says what is wrong with it
    return "stix" if isinstance(document, dict) and document.get("type") == "bundle" else "misp"


def import_data(store: Store, source: Source, data: bytes, now: float, *, snapshot: bool = True) -> ImportResult:
    """Parse `data` in the source's format and store it; a failure is recorded on the source and raised."""
    try:
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"{len(data)} bytes: more than the {MAX_FILE_BYTES // 2**20} MiB an import may be")
        parsed = parse(source.format, data, source)
        if not parsed.indicators:
            first = f": {parsed.problems[0]}" if parsed.problems else ""
            raise ValueError(f"no indicator found in this {source.format} data "
                             f"({parsed.refused} entries refused{first})")
    except ValueError as error:
        fail(store, source, str(error), now)
        raise ImportFailed(str(error)) from error
    return stored(store, source, parsed, now, snapshot=snapshot)


def stored(store: Store, source: Source, parsed: Parsed, now: float, *, snapshot: bool) -> ImportResult:
    added = repository.store_indicators(store, source, parsed, now, snapshot=snapshot)
    return ImportResult(source=repository.get_source(store, source.id), received=len(parsed.indicators),
                        added=added, refused=parsed.refused, problems=parsed.problems)


def fail(store: Store, source: Source, error: str, now: float) -> None:
    with store.write_transaction():
        repository.record_result(store, source.id, now, error[:2000])


def import_file(store: Store, name: str, data: bytes, now: float, format: Format | None = None,
                **options) -> ImportResult:
    """Into the file source `name` (made on first import; a later import of the same name replaces its list)."""
    source = repository.get_source(store, name)
    if source is None:
        source = repository.create_source(
            store, SourceIn(name=name, kind="file", format=format or guess_format(data), **options), now)
    elif source.kind != "file":
        raise ImportFailed(f"{name!r} is a {source.kind} feed: it is fetched, not imported from a file")
    elif format and format != source.format:
        raise ImportFailed(f"{name!r} was imported as {source.format}; import {format} under another name")
    return import_data(store, source, data, now)
