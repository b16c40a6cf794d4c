"""Where a request came from, as the audit log records it."""

from __future__ import annotations

from litestar import Request


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
