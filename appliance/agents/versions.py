"""Comparing sensor versions ("1.10.0" is newer than "1.9.2"; anything unparsable sorts oldest)."""

from __future__ import annotations

import re

_NUMBERS = re.compile(r"\d+")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in _NUMBERS.findall(version.split("+", 1)[0])) or (-1,)


def is_newer(candidate: str, than: str) -> bool:
    return version_key(candidate) > version_key(than)


def oldest(versions: list[str]) -> str | None:
    return min(versions, key=version_key) if versions else None
