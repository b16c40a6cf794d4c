"""After an erasure, every worker stops serving: 410 Gone for everything, /health says "erased".

Granian runs several worker processes; only one of them handles DELETE /tenant. The others still hold an
open store whose connections read the unlinked (and truncated) database, a cached token secret, and the key
in memory. So each worker checks, before every request, that the database file it started with is still
there with its key material (a few stat calls). The first time it is not, the worker closes its store and
answers 410 from then on, until it is restarted: even if `appliance init` makes a new database meanwhile,
nothing this worker cached may be mixed with it.

Why 410 Gone and not the seed's 423 Locked: 423 means "wait or act, then retry" (a lapsed license, a
locked account, a sealed box); an erased box's data is gone for good, and clients should stop retrying.
"""

from __future__ import annotations

import msgspec
from litestar import MediaType, Response
from litestar.types import ASGIApp, Receive, Scope, Send

from appliance import __version__
from appliance.api.box import Box
from appliance.api.errors import detail_response
from appliance.tenant.erasure import ERASED_DETAIL, database_identity

HEALTH_PATH = "/api/v1/health"


class ErasedHealth(msgspec.Struct):
    status: str
    version: str
    sealed: bool


class ErasureWatch:
    """One per worker (Litestar builds a middleware instance per route; they all share this)."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self._identity: tuple[int, int] | None = None
        self._erased = False

    def erased(self) -> bool:
        if self._erased:
            return True
        identity = database_identity(self.box.data_dir)
        if identity is not None and self._identity in (None, identity):
            self._identity = identity
            return False
        self._erased = True  # gone, or replaced under us: never serve from what this worker cached
        self.box.close()
        return True


class ErasedBoxGuard:
    def __init__(self, app: ASGIApp, watch: ErasureWatch) -> None:
        self.app = app
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.watch.erased():
            await self.app(scope, receive, send)
            return
        # No rate-limit headers: the counters were erased too, and counting would touch the closed box.
        scope.setdefault("state", {})["rate_limit_headers"] = []
        if scope["path"] == HEALTH_PATH:
            response = Response(
                ErasedHealth(status="erased", version=__version__, sealed=False), media_type=MediaType.JSON
            )
        else:
            response = detail_response(410, ERASED_DETAIL)
        await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
