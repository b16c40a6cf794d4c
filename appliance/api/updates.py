"""PATCH-like request bodies: the shape of a record with every field optional, derived from the record's own
Struct so the two never drift apart (a limit stated once holds for both)."""

from __future__ import annotations

import msgspec


def partial_update(record: type[msgspec.Struct], name: str, doc: str) -> type[msgspec.Struct]:
    """A Struct `name` with `record`'s fields, constraints and order, each optional and None by default: only
    the fields given change. Unknown fields are refused; encoding leaves out the ones not given, so
    `msgspec.to_builtins(update)` is exactly the change."""
    fields = [(field.name, field.type | None, None) for field in msgspec.structs.fields(record)]
    update = msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True, omit_defaults=True,
                               module=record.__module__)
    update.__doc__ = doc
    return update
