"""Serve the UI: the page at "/", its assets under "/ui/<content tag>/", all with a self-only
Content-Security-Policy.

The page and its assets need no token (the login form is on them); every API call the UI makes carries
the bearer token it keeps in sessionStorage. The assets' path carries a digest of their content, so the
browser keeps them for good and asks again only after an upgrade changed them: a reload costs the page
alone, not a dozen requests against the client's rate limit.
"""

from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

from litestar import MediaType, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from appliance.engine.rules import RULE_NAMES

PAGE_TEMPLATE = Path(__file__).parent / "index.html"
STATIC_DIR = Path(__file__).parent / "static"
ASSETS_MARKER = "/ui/ASSETS/"
RULE_NAMES_MARKER = "<!-- rule-names -->"
A_YEAR = 365 * 24 * 3600

# For the bearer-token middleware's exclude list: the page and its assets are public, the API is not.
PUBLIC_PATH_PATTERNS = ("^/$", "^/ui/")

# Nothing but the box itself: no inline script or style, no CDN, no framing, no plugins.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


async def add_security_headers(response: Response) -> Response:
    # A hook rather than `response_headers`: the static files router answers with raw ASGI responses,
    # which layered response headers never reach.
    response.headers.update(SECURITY_HEADERS)
    return response


def content_tag(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def index_page(assets: str) -> str:
    """index.html pointing at this build's assets, with the rule names the filters suggest."""
    options = "".join(f'<option value="{escape(name)}"></option>' for name in sorted(RULE_NAMES))
    page = PAGE_TEMPLATE.read_text(encoding="utf-8")
    return page.replace(ASSETS_MARKER, assets).replace(RULE_NAMES_MARKER, options)


def assets_path() -> str:
    """Where this build's assets are served (the API docs page borrows the stylesheet)."""
    return f"/ui/{content_tag(STATIC_DIR)}/"


def webui_router() -> Router:
    assets_at = assets_path()
    page = index_page(assets_at)

    @get("/", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False,
         cache_control=CacheControlHeader(no_cache=True))
    def index() -> str:
        return page

    assets = create_static_files_router(path=assets_at, directories=[STATIC_DIR], name="webui",
                                        cache_control=CacheControlHeader(max_age=A_YEAR, immutable=True),
                                        include_in_schema=False)
    return Router(path="/", route_handlers=[index, assets], after_request=add_security_headers,
                  include_in_schema=False)
