"""JSON-schema fragments for `msgspec.Meta(extra_json_schema=...)`: rules over several fields that a Struct
cannot state field by field, so that the OpenAPI description says them (see appliance/api/openapi.py)."""

from __future__ import annotations


def exactly_one_of(*names: str) -> dict:
    """Exactly one of the (nullable string) fields is given, the others are absent or null."""
    return {"oneOf": [
        {"required": [name], "properties": {other: {"type": "string"} if other == name else {"type": "null"}
                                            for other in names}}
        for name in names
    ]}


def at_least_one_of(*names: str) -> dict:
    """At least one of the (nullable) fields is given and not null."""
    return {"anyOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in names]}
