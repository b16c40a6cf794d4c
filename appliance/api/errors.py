"""Every error leaves the API as the seed's body: {"detail": "human-readable message"}."""

from __future__ import annotations

import logging

import msgspec
from litestar import MediaType, Request, Response
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_409_CONFLICT,
    HTTP_410_GONE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_423_LOCKED,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_502_BAD_GATEWAY,
)

from appliance.store.keys import SealedError

logger = logging.getLogger("netsenx.api")


class ErrorDetail(msgspec.Struct, forbid_unknown_fields=True):
    """The body of every error the API answers (and of a few confirmations, e.g. "logged out")."""

    detail: str


# What each error status means on this API (the seed's table, plus the statuses the seed does not list).
# The OpenAPI description (appliance/api/openapi.py) documents each error response with these words.
ERROR_MEANINGS = {
    400: "Bad request (validation error): the detail names the offending field",
    401: "Unauthorized (missing, invalid, expired or revoked token; wrong credentials)",
    403: "Forbidden (insufficient role, a user route called with a sensor token or the reverse, or the plan "
    "does not include it)",
    404: "Resource not found",
    409: "Conflict with the box's current state (e.g. the cloud link is off, the name is taken, the last admin)",
    410: "Gone: this box has been erased; nothing is served until it is initialised again",
    415: "Unsupported media type",
    423: "Locked (the box is sealed until POST /system/unseal, the license is missing or expired, the account "
    "is locked)",
    429: "Rate limited: Retry-After says when to try again",
    502: "External service error (the vendor licensing service, Stripe)",
}


class Locked(HTTPException):
    status_code = HTTP_423_LOCKED


class Conflict(HTTPException):
    status_code = HTTP_409_CONFLICT


class Gone(HTTPException):
    status_code = HTTP_410_GONE


class UnsupportedMediaType(HTTPException):
    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE


class BadGateway(HTTPException):
    status_code = HTTP_502_BAD_GATEWAY


# On every response that carries a token or a secret: no browser or proxy cache may keep a copy.
NO_STORE = CacheControlHeader(no_store=True)


def detail_response(status_code: int, detail: str, headers: dict | None = None) -> Response:
    return Response({"detail": detail}, status_code=status_code, media_type=MediaType.JSON, headers=headers)


def validation_detail(exception: ValidationException) -> str:
    """Name the offending fields, e.g. "limit: must be <= 100", not Litestar's generic message."""
    problems = []
    for item in exception.extra or []:
        if not isinstance(item, dict):
            continue
        key = item.get("key") or ""
        message = str(item.get("message") or "")
        if item.get("source") == "body" and message == repr(key):  # Litestar's KeyError: there was no body
            problems.append("the request body is missing: send a JSON object")
            continue
        problems.append(f"{key}: {message}" if key and not message.startswith(key) else message)
    if problems:
        return "; ".join(problems)
    return str(exception.detail or "invalid request")


def handle_http_exception(request: Request, exception: HTTPException) -> Response:
    if isinstance(exception, ValidationException):
        return detail_response(400, validation_detail(exception))
    headers = dict(exception.headers or {})
    detail = exception.detail
    if exception.status_code == 404 and detail in ("Not Found", ""):
        detail = f"not found: {request.url.path}"
    if exception.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    return detail_response(exception.status_code, str(detail), headers)


def handle_sealed(request: Request, exception: SealedError) -> Response:
    return detail_response(
        HTTP_423_LOCKED, 'the box is sealed: an admin must unseal it with POST /api/v1/system/unseal {"passphrase"}'
    )


def handle_unexpected(request: Request, exception: Exception) -> Response:
    # The trace goes to the server log; the client learns only that it failed.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return detail_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal server error")


EXCEPTION_HANDLERS = {
    HTTPException: handle_http_exception,
    SealedError: handle_sealed,
    Exception: handle_unexpected,
}
