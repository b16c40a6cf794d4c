"""Turning bytes from the wire into strings that are safe to store and show."""

from __future__ import annotations


def printable(data: bytes, limit: int = 255) -> str:
    """At most `limit` bytes as text; anything outside printable ASCII is shown as \\xNN."""
    text = data[:limit].decode("ascii", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
