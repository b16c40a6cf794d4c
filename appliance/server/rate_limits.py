"""The seed's rate limits, counted in one SQLite file that every Granian worker shares.

The counters live in the box's runtime directory (tmpfs), next to the unsealed key: shared by all worker
processes, kept when a worker restarts, and never written to the data disk (they hold client addresses).
Fixed windows: a request is counted in the window it falls in; X-RateLimit-Reset is that window's end.
"""

from __future__ import annotations

import time
from pathlib import Path

import apsw
import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from appliance.api.box import Box
from appliance.api.errors import detail_response
from appliance.api_tokens import tokens as api_tokens
from appliance.auth import tokens
from appliance.store.database import SchemaMismatch
from appliance.store.keys import SealedError


class Limit(msgspec.Struct, frozen=True):
    requests: int
    window_seconds: int


# The seed's table, plus three the seed does not list: the probe endpoint, the sensors' ingest and the web UI's
# files, which must not eat into the 100/min that people get.
DEFAULT_LIMITS = {
    "general": Limit(100, 60),
    "heartbeat": Limit(2, 60),
    "reports": Limit(10, 3600),
    "export": Limit(1, 3600),
    "ingest": Limit(1200, 60),
    "health": Limit(600, 60),
    "ui": Limit(600, 60),  # the web UI's page and assets, so that loading the UI costs no API requests
}


def category_of(method: str, path: str) -> str:
    if path == "/api/v1/agents/heartbeat":
        return "heartbeat"
    if path == "/api/v1/agents/ingest":
        return "ingest"
    if path.startswith("/api/v1/reports/") and method == "POST":
        return "reports"
    if path == "/api/v1/tenant/export":
        return "export"
    if path == "/api/v1/health":
        return "health"
    if path == "/" or path.startswith("/ui/"):
        return "ui"
    return "general"


class RateLimiter:
    def __init__(self, path: Path, limits: dict[str, Limit]) -> None:
        self.path = path
        self.limits = limits
        self._connection: apsw.Connection | None = None
        self._calls = 0

    def _db(self) -> apsw.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            connection = apsw.Connection(str(self.path))
            connection.set_busy_timeout(5000)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS hits (bucket TEXT NOT NULL, window_start INTEGER NOT NULL, "
                "count INTEGER NOT NULL, PRIMARY KEY (bucket, window_start)) WITHOUT ROWID"
            )
            self._connection = connection
        return self._connection

    def hit(self, category: str, client: str, now: float | None = None) -> tuple[Limit, int, int]:
        """Count one request. Returns (limit, requests so far in this window, window end)."""
        now = time.time() if now is None else now
        limit = self.limits[category]
        window_start = int(now) - int(now) % limit.window_seconds
        db = self._db()
        count = db.execute(
            "INSERT INTO hits (bucket, window_start, count) VALUES (?, ?, 1) "
            "ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1 RETURNING count",
            (f"{category}:{client}", window_start),
        ).fetchall()[0][0]
        self._calls += 1
        if self._calls % 1000 == 0:
            db.execute("DELETE FROM hits WHERE window_start < ?", (int(now) - 2 * 3600,))
        return limit, count, window_start + limit.window_seconds


def client_identity(box: Box, scope: Scope) -> str:
    """Whom to count against: the token's subject when it verifies, otherwise the client address."""
    headers = dict(scope.get("headers") or [])
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and api_tokens.is_api_token(token.strip()):
        try:
            return f"pat:{api_tokens.verify(box.store(), token.strip()).token_id}"
        except (api_tokens.InvalidApiToken, SealedError, OSError, SchemaMismatch):
            pass
    elif scheme.lower() == "bearer" and token:
        try:
            claims = tokens.decode(box.token_secret(), token.strip())
            return f"{claims.typ}:{claims.sub}"
        except (tokens.InvalidTokenError, SealedError, OSError, SchemaMismatch):  # sealed or erased: by address
            pass
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


def rate_limit_headers(limit: Limit, count: int, reset: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(limit.requests).encode()),
        (b"x-ratelimit-remaining", str(max(0, limit.requests - count)).encode()),
        (b"x-ratelimit-reset", str(reset).encode()),
    ]


class RateLimitMiddleware:
    """Counts every routed request and answers 429 when over; the headers go on in `add_headers`."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, box: Box) -> None:
        self.app = app
        self.limiter = limiter
        self.box = box

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        category = category_of(scope["method"], scope["path"])
        limit, count, reset = self.limiter.hit(category, client_identity(self.box, scope))
        scope.setdefault("state", {})["rate_limit_headers"] = rate_limit_headers(limit, count, reset)
        if count > limit.requests:
            retry_after = max(1, reset - int(time.time()))
            response = detail_response(
                429,
                f"rate limit exceeded: {limit.requests} requests per {limit.window_seconds} s "
                f"for {category} requests; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
            await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
            return
        await self.app(scope, receive, send)


def header_hook(limiter: RateLimiter, box: Box):
    """A `before_send` hook: puts the X-RateLimit-* headers on every response, and counts the requests
    that never reached a route (unknown paths), which the route middleware does not see."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != "http":
            return
        state = scope.setdefault("state", {})
        headers = state.get("rate_limit_headers")
        if headers is None:
            category = category_of(scope["method"], scope["path"])
            headers = rate_limit_headers(*limiter.hit(category, client_identity(box, scope)))
        message["headers"] = list(message.get("headers", [])) + headers

    return add_headers
