"""Every error leaves the API as the seed's body: {"detail": "human-readable message"}."""

from __future__ import annotations

import logging

import msgspec
from litestar import MediaType, Request, Response
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_423_LOCKED, HTTP_500_INTERNAL_SERVER_ERROR

from appliance.store.keys import SealedError

logger = logging.getLogger("netsenx.api")


class Locked(HTTPException):
    status_code = HTTP_423_LOCKED


class ErrorDetail(msgspec.Struct):
    detail: str


def error_responses(descriptions: dict[int, str]) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route answers, each with the {"detail"} body."""
    return {
        status: ResponseSpec(data_container=ErrorDetail, description=description, generate_examples=False)
        for status, description in descriptions.items()
    }


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
