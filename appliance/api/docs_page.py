"""The API documentation page at /api/v1/schema/docs: plain HTML written on the box from the schema it serves.

Litestar's documentation plugins (Swagger UI, ReDoc, Stoplight, RapiDoc, Scalar) load their scripts, styles
and fonts from public CDNs: on an air-gapped box they fail, and elsewhere they tell a third party that
someone reads this box's API. This page needs no script at all: every operation with its parameters, body
and answers, and every body's fields, from the same description as /api/v1/schema/openapi.json, styled by
the UI's own stylesheet.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

from appliance.api.openapi import DescribedSchema

DOCS_PATH = "/docs"
METHOD_ORDER = ("get", "post", "put", "patch", "delete")
# Said in the page, since the schema router's answers carry no headers of ours: the box only, and no script.
PAGE_POLICY = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'"


def schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words, with links to the bodies it names: 'array of <a>Alert</a>'."""
    if "$ref" in schema:
        name = schema_name(schema["$ref"])
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " or ".join(type_of(part) for part in schema[combinator])
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(value))}</code>" for value in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(escape(str(part)) for part in kind)
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if schema.get("format"):
        return f"{escape(kind)} ({escape(schema['format'])})"
    return escape(kind)


def constraints(schema: dict[str, Any]) -> str:
    said = [f"{word} {schema[key]}" for key, word in (
        ("minimum", "≥"), ("maximum", "≤"), ("minLength", "min length"), ("maxLength", "max length"),
        ("default", "default")) if key in schema]
    return escape(", ".join(said))


def table(headings: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f'<th scope="col">{title}</th>' for title in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<div class="table-wrap"><table class="table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def parameters_table(parameters: list[dict[str, Any]]) -> str:
    rows = [(f"<code>{escape(p['name'])}</code>", escape(p["in"]), "yes" if p.get("required") else "no",
             type_of(p.get("schema", {})), escape(p.get("description", "")) + " " + constraints(p.get("schema", {})))
            for p in parameters]
    return "<h4>Parameters</h4>" + table(("Name", "In", "Required", "Type", "About"), rows)


def body_section(request_body: dict[str, Any]) -> str:
    parts = [f"<p>{escape(media)}: {type_of(content.get('schema', {}))}"
             f"{'' if request_body.get('required', True) else ' (optional)'}</p>"
             for media, content in request_body.get("content", {}).items()]
    return "<h4>Body</h4>" + "".join(parts)


def responses_table(responses: dict[str, Any]) -> str:
    rows = []
    for status, response in sorted(responses.items()):
        bodies = [type_of(content.get("schema", {})) for content in (response.get("content") or {}).values()]
        rows.append((f"<code>{escape(status)}</code>", escape(response.get("description", "")),
                     ", ".join(bodies) or "—"))
    return "<h4>Answers</h4>" + table(("Status", "Meaning", "Body"), rows)


def operation_id(method: str, path: str) -> str:
    return f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")


def operation_section(method: str, path: str, operation: dict[str, Any]) -> str:
    token = "no token" if operation.get("security") == [] else "bearer token"
    parts = [f'<section class="panel api-operation" id="{escape(operation_id(method, path))}">',
             f'<h3><span class="badge method-{method}">{method.upper()}</span> <code>{escape(path)}</code></h3>',
             f"<p>{escape(operation.get('summary', ''))} <span class=\"muted\">({token})</span></p>"]
    if operation.get("description"):
        parts.append(f"<p class=\"muted\">{escape(operation['description'])}</p>")
    if operation.get("parameters"):
        parts.append(parameters_table(operation["parameters"]))
    if operation.get("requestBody"):
        parts.append(body_section(operation["requestBody"]))
    parts.append(responses_table(operation.get("responses", {})))
    parts.append("</section>")
    return "".join(parts)


def schema_section(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    properties = schema.get("properties")
    if properties is None:
        about = f"<p>{type_of(schema)}</p>"
    else:
        about = table(("Field", "Type", "Required", "About"), [
            (f"<code>{escape(field)}</code>", type_of(spec), "yes" if field in required else "no",
             escape(spec.get("description", "")) + " " + constraints(spec))
            for field, spec in properties.items()])
    description = f"<p class=\"muted\">{escape(schema['description'])}</p>" if schema.get("description") else ""
    return (f'<section class="panel" id="schema-{escape(name)}"><h3>{escape(name)}</h3>'
            f"{description}{about}</section>")


def operations_by_tag(paths: dict[str, Any]) -> dict[str, list[tuple[str, str, dict]]]:
    grouped: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    for path, item in sorted(paths.items()):
        for method in METHOD_ORDER:
            if method in item:
                grouped[(item[method].get("tags") or ["other"])[0]].append((method, path, item[method]))
    return dict(sorted(grouped.items()))


def docs_html(schema: dict[str, Any], stylesheet: str, json_path: str) -> str:
    info = schema.get("info", {})
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    grouped = operations_by_tag(schema.get("paths", {}))
    contents = "".join(
        f'<li><a href="#tag-{escape(tag)}">{escape(tag)}</a> <span class="muted">({len(operations)})</span></li>'
        for tag, operations in grouped.items())
    tags = "".join(
        f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2>'
        + "".join(operation_section(method, path, operation) for method, path, operation in operations)
        for tag, operations in grouped.items())
    schemas = "".join(schema_section(name, body)
                      for name, body in sorted(schema.get("components", {}).get("schemas", {}).items()))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{PAGE_POLICY}">
<title>{title}</title>
<link rel="stylesheet" href="{escape(stylesheet)}">
</head>
<body>
<a class="skip-link" href="#content">Skip to content</a>
<main id="content" class="content api-docs">
<h1>{title}</h1>
<p>Every call but those marked “no token” carries <code>Authorization: Bearer &lt;token&gt;</code>: the token from
<code>POST /api/v1/auth/login</code>, or an admin's API token. Errors answer <code>{{"detail": "…"}}</code>.
The same description as a file: <a href="{escape(json_path)}">openapi.json</a>. <a href="/">Back to the box</a>.</p>
<nav aria-label="API sections"><ul class="api-contents">{contents}<li><a href="#schemas">Bodies</a></li></ul></nav>
{tags}
<h2 id="schemas">Bodies</h2>
{schemas}
</main>
</body>
</html>
"""


class DocsPage(OpenAPIRenderPlugin):
    """The page, written once per app from the described schema, with the UI's stylesheet."""

    def __init__(self, described: DescribedSchema, stylesheet: str) -> None:
        super().__init__(path=DOCS_PATH, favicon="")
        self._described = described
        self._stylesheet = stylesheet
        self._rendered: bytes | None = None

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            schema = self._described.described(request, openapi_schema)
            json_path = request.url.path.removesuffix(DOCS_PATH) + "/openapi.json"
            self._rendered = docs_html(schema, self._stylesheet, json_path).encode()
        return self._rendered
