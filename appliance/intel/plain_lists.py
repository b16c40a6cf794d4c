"""Plain lists: one indicator per line, or CSV (abuse.ch Feodo Tracker, SSLBL and URLhaus exports and the like).

'#' starts a comment. A CSV's header is its first row, or the last comment line before the data (abuse.ch
writes it as "# first_seen_utc,dst_ip,dst_port,..."). With a header, the columns whose names say what they
hold are read (INDICATOR_COLUMNS; "indicator", "ioc" and "value" are recognised by shape), and dates, a
confidence and a description are taken from the columns named for them. Without one, every cell is
recognised by its shape. A line that holds no indicator is refused and counted, the rest imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import re

from appliance.intel.indicators import Indicator, NotAnIndicator, Parsed, clamp_confidence, classify, typed

INDICATOR_COLUMNS = {
    "ip": "ip", "dst_ip": "ip", "ip_address": "ip", "ipaddress": "ip", "dstip": "ip", "address": "ip",
    "cidr": "cidr", "network": "cidr", "domain": "domain", "hostname": "domain", "host": "domain",
    "url": "url", "ja3": "ja3", "ja3_md5": "ja3", "ja3_fingerprint": "ja3", "ja4": "ja4",
    "md5": "file_md5", "md5_hash": "file_md5", "sha256": "file_sha256", "sha256_hash": "file_sha256",
    "sha1_hash": "file_sha1", "cert_sha1": "cert_sha1", "sha1": None, "indicator": None, "ioc": None, "value": None,
}
FIRST_SEEN_COLUMNS = ("first_seen_utc", "first_seen", "dateadded", "listingdate", "date_added")
LAST_SEEN_COLUMNS = ("last_online", "last_seen", "last_seen_utc")
_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ .-]*$")
DESCRIPTION_COLUMNS = ("malware", "threat", "listingreason", "description", "comment", "tags", "malware_printable")


def parse_list(data: bytes | str, tls_hashes: bool = True, default_confidence: int = 50) -> Parsed:
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise ValueError(f"not a UTF-8 text list: {error}") from None
    if text.lstrip().startswith(("<", "{", "[")):
        raise ValueError("not a plain list or CSV (it starts like HTML or JSON: a STIX or MISP file?)")
    lines = text.splitlines()
    data_lines = [(number, line) for number, line in enumerate(lines, start=1)
                  if line.strip() and not line.lstrip().startswith("#")]
    header = _header(lines, data_lines)
    if header is not None and header[0] == data_lines[0][0]:
        data_lines = data_lines[1:]
    columns = [name.strip().lstrip("#").strip().lower() for name in header[1]] if header else None
    parsed = Parsed()
    for number, line in data_lines:
        cells = _cells(line.split(" #", 1)[0])
        _take_row(number, cells, columns, tls_hashes, default_confidence, parsed)
    return parsed


def _header(lines: list[str], data_lines: list[tuple[int, str]]) -> tuple[int, list[str]] | None:
    """(line number, names) of a header naming at least one indicator column, else None."""
    if not data_lines:
        return None
    first_number, first = data_lines[0]
    candidates = [(first_number, first)]
    comments = [(n, line) for n, line in enumerate(lines[: first_number - 1], start=1) if line.lstrip().startswith("#")]
    if comments:
        candidates.append(comments[-1])
    width = len(_cells(first))
    for number, line in candidates:
        names = _cells(line.lstrip().lstrip("#"))
        # a comment is a header only when it has the data's columns, each a column name ("# one per line: ip,
        # domain" is prose)
        if len(names) > 1 and (number == first_number or len(names) == width) \
                and all(_COLUMN_NAME.match(name.strip()) for name in names) \
                and any(name.strip().lower() in INDICATOR_COLUMNS for name in names):
            return number, names
    return None


def _cells(line: str) -> list[str]:
    return next(csv.reader([line], skipinitialspace=True), [])


def _take_row(number: int, cells: list[str], columns: list[str] | None, tls_hashes: bool, default_confidence: int,
              parsed: Parsed) -> None:
    named = dict(zip(columns, cells, strict=False)) if columns else {}
    details = {
        "confidence": clamp_confidence(named.get("confidence", default_confidence)),
        "first_seen": _first(named, FIRST_SEEN_COLUMNS),
        "last_seen": _first(named, LAST_SEEN_COLUMNS),
        "description": next((named[name] for name in DESCRIPTION_COLUMNS if named.get(name)), "")[:500],
    }
    wanted = [(INDICATOR_COLUMNS[name], value) for name, value in named.items() if name in INDICATOR_COLUMNS] \
        if columns else [(None, cell) for cell in cells]
    found = []
    for kind, value in wanted:
        if not value.strip():
            continue
        try:
            found.append(typed(kind, value) if kind else classify(value, tls_hashes))
        except NotAnIndicator:
            continue
    if not found:
        parsed.refuse(f"line {number}: no indicator in {','.join(cells)[:120]!r}")
        return
    domains = [value for kind, value in found if kind == "domain"]
    for kind, value in found:
        domain = domains[0] if domains and kind in ("ip", "cidr") else None
        parsed.indicators.append(Indicator(kind=kind, value=value, domain=domain, **details))


def _first(named: dict[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        text = named.get(name, "").strip()
        if not text:
            continue
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    return None
