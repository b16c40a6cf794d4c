"""JSON request bodies are held to their msgspec Struct strictly, as the OpenAPI description says.

Litestar converts a handler's `data` with msgspec in lax mode (it converts query strings the same way, where
"30" must become 30), so a body with `"enabled": 0` or `"port": "80"` would be taken as `false` and `80`.
The schema says boolean and integer; a client sending something else has a bug it should hear about.
This hook decodes the body once more, strictly, before Litestar does, and answers 400 naming the field.
"""

from __future__ import annotations

import re

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


def _described(body_type: type, name: str) -> str | None:
    """The Meta description of the body's field `name` ("an IPv4/IPv6 address or network"), if it has one."""
    info = msgspec.inspect.type_info(body_type)
    for field in getattr(info, "fields", ()):
        if field.name == name and isinstance(field.type, msgspec.inspect.Metadata):
            return (field.type.extra_json_schema or {}).get("description")
    return None


def _value_at(raw: bytes, name: str) -> object:
    """The value msgspec's path names, nested ones too ("settings.url", "to[1]")."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", name):
        if key and isinstance(value, dict):
            value = value.get(key)
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return None
    return value


def field_path(error: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec says "Expected `bool`, got `int` - at `$.enabled`": split it into ("enabled", the problem)."""
    message, _, where = str(error).rpartition(" - at `")
    if not message:
        return "data", str(error)
    return where.rstrip("`").removeprefix("$.").removeprefix("$") or "data", message


async def decode_json_body_strictly(request: Request) -> None:
    body = request.route_handler.parsed_fn_signature.parameters.get("data")
    if body is None or "json" not in (request.content_type[0] or "json"):
        return
    raw = await request.body()  # Litestar keeps it: the handler's own decoding reads it again
    if not raw and body.has_default:
        return
    try:
        msgspec.json.decode(raw, type=body.raw, strict=True)
    except msgspec.ValidationError as error:
        name, problem = field_path(error)
        if re.search(r"matching regex '.*'$", problem):  # the regex says nothing to a person: say what was sent
            expected = _described(body.raw, name) or "in the documented format (see the API schema)"
            problem = f"{_value_at(raw, name)!r} is not {expected}"
        raise ValidationException(f"{name}: {problem}") from error
    except msgspec.DecodeError:
        return  # not JSON at all: Litestar's own decoding says so
