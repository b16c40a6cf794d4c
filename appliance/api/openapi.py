"""The OpenAPI description the box serves at /api/v1/schema/openapi.json.

Litestar generates it from the route handlers: paths, parameters, request bodies, success bodies and the
errors each handler declares with `raises=[...]`. What the handlers cannot say themselves is added here,
once, from what the app is made of:

- every error answers the seed's body `{"detail": "..."}` (Litestar would document `status_code`/`extra`);
- errors that come from the layers around the handler: 401 from the bearer middleware (every route but the
  public ones), 403 from a guard, 423 while the box is sealed (every route that opens the store), 410 once
  the box is erased and 429 from the rate limiter (every route);
- the X-RateLimit-* headers on every response, except a 410 (the erased box keeps no counters) and /health
  (which still answers on an erased box, without them);
- `security: []` on the public routes (health, unsealing, logging in, a sensor's license-key exchange) and
  the bearer token everywhere else;
- PDF and ZIP downloads as binary strings;
- the request and response bodies as msgspec itself describes the Structs (`msgspec.json.schema`): what
  msgspec validates is what the schema says, unknown fields refused (`additionalProperties: false`) where
  the Struct forbids them, and constraints given with `msgspec.Meta` (lengths, ranges, patterns, and
  `extra_json_schema` for what a Struct cannot say itself, e.g. "exactly one of alert_id or incident_id");
- a route answers 404 for an identifier in its path that names nothing.

It is computed on the first request for the schema, not when the app is built: building it costs a
third of a second, which every worker and every test's app would otherwise pay.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response.base import ASGIResponse, Response
from litestar.routes import HTTPRoute

from appliance.api.errors import ERROR_MEANINGS
from appliance.api.security import PUBLIC_PATHS

BEARER = "BearerToken"
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorDetail"}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "human-readable error message"}},
    "required": ["detail"],
    "additionalProperties": False,
}
HEALTH_PATH = "/api/v1/health"
UNSEAL_PATH = "/api/v1/system/unseal"


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "requests allowed per window in this request's category",
    "X-RateLimit-Remaining": "requests left in the current window",
    "X-RateLimit-Reset": "when the current window ends (epoch seconds)",
}
HEADERS = {
    **{name: {"description": meaning, "required": True, "schema": {"type": "integer", "minimum": 0}}
       for name, meaning in RATE_LIMIT_HEADERS.items()},
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": False,
        "schema": {"type": "integer", "minimum": 0},
    },
}


def header_refs(*names: str) -> dict[str, dict]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def optional_rate_limit_headers() -> dict[str, dict]:
    return {name: {**HEADERS[name], "required": False} for name in RATE_LIMIT_HEADERS}


def is_public(path: str) -> bool:
    return any(path.startswith(public) for public in PUBLIC_PATHS)


def error_statuses(path: str, handler: HTTPRouteHandler, declared: set[int]) -> set[int]:
    """The handler's own errors plus those of the layers around it (see the module's docstring)."""
    statuses = set(declared) | {429}
    if "{" in path:
        statuses.add(404)
    if path != HEALTH_PATH:
        statuses.add(410)
    opens_store = "store" in handler.parsed_fn_signature.parameters
    if not is_public(path):
        statuses.add(401)  # the bearer middleware, which also opens the store to check revocations
    if (opens_store or not is_public(path)) and path not in (HEALTH_PATH, UNSEAL_PATH):
        statuses.add(423)
    if handler.resolve_guards():
        statuses.add(403)
    return statuses


def error_response(status: int) -> dict:
    headers = {} if status == 410 else header_refs(*RATE_LIMIT_HEADERS)
    if status in (423, 429):  # 429 always, 423 when an account is locked
        headers |= header_refs("Retry-After")
    return {
        "description": ERROR_MEANINGS[status],
        "headers": headers,
        "content": {"application/json": {"schema": ERROR_SCHEMA_REF}},
    }


def describe_success(path: str, response: dict) -> None:
    rate_limits = optional_rate_limit_headers() if path == HEALTH_PATH else header_refs(*RATE_LIMIT_HEADERS)
    response["headers"] = {**response.get("headers", {}), **rate_limits}
    for media_type, content in (response.get("content") or {}).items():
        if "json" not in media_type:  # a download (PDF, ZIP): bytes, not a JSON string
            content["schema"] = {"type": "string", "format": "binary", "contentMediaType": media_type}


def describe_operation(path: str, handler: HTTPRouteHandler, operation: dict, body_schema: dict | None) -> None:
    if body_schema is not None:
        operation["requestBody"]["content"] = {"application/json": {"schema": body_schema}}
        # e.g. a heartbeat may come without a body
        operation["requestBody"]["required"] = not handler.parsed_fn_signature.parameters["data"].has_default
    responses = operation["responses"]
    declared = {int(code) for code in responses if int(code) >= 400}
    for code, response in responses.items():
        if int(code) < 400:
            describe_success(path, response)
    for status in sorted(error_statuses(path, handler, declared)):
        responses[str(status)] = error_response(status)
    operation["security"] = [] if is_public(path) else [{BEARER: []}]


def request_body(handler: HTTPRouteHandler) -> Any | None:
    """The annotation of the handler's JSON body as written (with its `msgspec.Meta`), or None."""
    data = handler.parsed_fn_signature.parameters.get("data")
    return data.raw if data is not None else None


def response_body(handler: HTTPRouteHandler) -> Any | None:
    """The type of the handler's JSON answer; None for downloads (PDF, ZIP), which have no JSON schema."""
    answer = handler.parsed_fn_signature.return_type
    return None if answer.is_subclass_of((Response, ASGIResponse)) else answer.annotation


def msgspec_schemas(handlers: list[HTTPRouteHandler]) -> tuple[dict[int, dict], dict[str, Any]]:
    """msgspec's own JSON schema of each handler's request body (by handler id), and the components of
    every Struct in the bodies, under the names Litestar's references use."""
    requests = {id(handler): body for handler in handlers if (body := request_body(handler)) is not None}
    answers = [body for handler in handlers if (body := response_body(handler)) is not None]
    tops, components = msgspec.json.schema_components(
        [*requests.values(), *answers], ref_template="#/components/schemas/{name}"
    )
    return {key: plain_ref(top) for key, top in zip(requests, tops, strict=False)}, components


def plain_ref(schema: dict) -> dict:
    """msgspec puts `extra_json_schema` beside a `$ref`; allOf says the same to every OpenAPI tool."""
    if "$ref" in schema and len(schema) > 1:
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        return {"allOf": [{"$ref": schema["$ref"]}], **rest}
    return schema


def api_handlers(app: Litestar) -> list[tuple[HTTPRoute, str, HTTPRouteHandler]]:
    return [
        (route, method.lower(), handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
        if handler.resolve_include_in_schema()
    ]


def describe(app: Litestar, generated: dict) -> dict:
    described = copy.deepcopy(generated)
    described.pop("security", None)  # said per operation instead: public routes have none
    handlers = api_handlers(app)
    components = described.setdefault("components", {})
    body_schemas, structs = msgspec_schemas([handler for _, _, handler in handlers])
    components.setdefault("schemas", {}).update(structs)
    components["schemas"]["ErrorDetail"] = ERROR_SCHEMA
    components["headers"] = HEADERS
    for route, method, handler in handlers:
        operation = described["paths"].get(route.path_format, {}).get(method)
        if operation is not None:
            describe_operation(route.path, handler, operation, body_schemas.get(id(handler)))
    return described


class DescribedSchema(JsonRenderPlugin):
    """Serves the generated schema completed by `describe`, computed once per app."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/openapi.json"])
        self._described: dict | None = None
        self._rendered: bytes | None = None

    def described(self, request: Request, openapi_schema: dict[str, Any]) -> dict:
        if self._described is None:
            self._described = describe(request.app, openapi_schema)
        return self._described

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = self.render_json(request, self.described(request, openapi_schema))
        return self._rendered
