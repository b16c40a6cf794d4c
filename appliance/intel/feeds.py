"""Feeds fetched on a schedule: TAXII 2.1 collections (taxii2-client) and plain HTTPS lists (abuse.ch and the like).

A fetch sends nothing about the site: a GET of the configured URL with the headers in `request_headers` (and
for TAXII, the collection's objects added since the last success), which the "what leaves the box" page shows
as it is (egress/destinations.py). The notifier service runs `FeedStep` each round: at most one due feed per
round, so a slow feed never holds notifications back for long. A failure is recorded on the feed (last result,
error) and the indicators it had stay until the next success.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import ssl
import tempfile
import urllib.parse
from collections.abc import Iterator
from typing import Annotated, Literal

import httpx
import msgspec
import requests
from taxii2client import exceptions as taxii_errors
from taxii2client.v21 import Collection, as_pages

from appliance.intel import imports, repository, stix
from appliance.intel.imports import ImportFailed, ImportResult
from appliance.intel.repository import Format, Source, SourceIn
from appliance.store.database import Store

log = logging.getLogger("netsenx.intel.feeds")

TIMEOUT_SECONDS = 60.0
TAXII_PAGE = 1000
USER_AGENT = "netsenx-threat-intel"
TAXII_ACCEPT = "application/taxii+json;version=2.1"
MIN_INTERVAL_SECONDS = 300.0
# a TAXII server's clock may run behind ours: ask again for what was added shortly before the last success
TAXII_OVERLAP_SECONDS = 600.0


NAME_PATTERN = r"^[^\x00-\x1f]+$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME_PATTERN)]


class FeedIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    kind: Literal["taxii", "https_list"]
    url: Annotated[str, msgspec.Meta(max_length=2000)]
    """An HTTPS list's URL, or a TAXII 2.1 API root (https://host/api1/)."""
    collection: str | None = None
    """TAXII: the collection id."""
    format: Format = "list"
    """What an HTTPS list holds (a TAXII feed is always STIX)."""
    interval_seconds: Annotated[float, msgspec.Meta(ge=MIN_INTERVAL_SECONDS, le=30 * 86400)] = 3600.0
    ca_cert: Annotated[str, msgspec.Meta(max_length=65536)] | None = None
    """PEM of a private CA the feed's server certificate chains to (a site's own MISP); else the system's."""
    username: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    password: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    tls_hashes: bool = True
    default_confidence: Annotated[int, msgspec.Meta(ge=0, le=100)] = 50
    expiry_days: Annotated[float, msgspec.Meta(gt=0)] | None = 30.0
    """An indicator the feed gives no expiry stops matching this long after the feed last listed it."""


class InvalidFeed(ValueError):
    pass


def check_feed(data: FeedIn) -> SourceIn:
    """The feed as stored; InvalidFeed names the field that is wrong."""
    parts = urllib.parse.urlsplit(data.url)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidFeed(f"url: {data.url!r} is not an https:// URL (feeds are fetched over HTTPS only)")
    if data.kind == "taxii" and not data.collection:
        raise InvalidFeed("collection: a TAXII feed needs the collection id")
    if data.password and not data.username:
        raise InvalidFeed("password: given without a username")
    if data.ca_cert:
        try:
            ssl.create_default_context(cadata=data.ca_cert)
        except (ssl.SSLError, ValueError) as error:
            raise InvalidFeed(f"ca_cert: not a PEM CA certificate ({error})") from None
    fields = msgspec.structs.asdict(data)
    fields["secret"] = fields.pop("password")
    if data.kind == "taxii":
        fields["format"] = "stix"
    return SourceIn(**fields)


def collection_url(source: Source) -> str:
    return f"{source.url.rstrip('/')}/collections/{source.collection}/objects/"


def request_headers(source: Source) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": TAXII_ACCEPT if source.kind == "taxii" else "*/*"}
    if source.username:
        headers["Authorization"] = f"Basic <{source.username} and the feed's password>"
    return headers


def request_line(source: Source) -> str:
    if source.kind == "taxii":
        since = " with added_after=<the last success, less 10 minutes>" if source.last_success_at else ""
        return f"GET {collection_url(source)}{since}, {TAXII_PAGE} objects a page"
    return f"GET {source.url}"


def fetch(store: Store, source: Source, now: float) -> ImportResult:
    """Fetch the feed now and store what it gave. Raises ImportFailed (recorded on the feed)."""
    try:
        if source.kind == "taxii":
            parsed = stix.parse_objects(list(_taxii_objects(store, source)))
            if not parsed.indicators and parsed.refused:
                raise ValueError(f"nothing usable: {parsed.refused} objects refused ({parsed.problems[0]})")
            return imports.stored(store, source, parsed, now, snapshot=False)
        data = _https_list(store, source)
    except (httpx.HTTPError, requests.RequestException, taxii_errors.TAXIIServiceException, OSError,
            ValueError) as error:
        message = f"{type(error).__name__}: {error}"[:2000]
        imports.fail(store, source, message, now)
        raise ImportFailed(message) from error
    return imports.import_data(store, source, data, now)


def _https_list(store: Store, source: Source) -> bytes:
    # the feed's own CA when it has one, else the system's trust store; no proxy or CA bundle from the environment
    trusted = ssl.create_default_context(cadata=source.ca_cert) if source.ca_cert else ssl.create_default_context()
    auth = (source.username, repository.secret_of(store, source.id) or "") if source.username else None
    client = httpx.Client(verify=trusted, timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)
    with client, client.stream("GET", source.url, headers=request_headers(source), auth=auth) as response:
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > imports.MAX_FILE_BYTES:
                raise ValueError(f"the list is larger than {imports.MAX_FILE_BYTES // 2**20} MiB")
        return bytes(body)


def _taxii_objects(store: Store, source: Source) -> Iterator[dict]:
    since = {}
    if source.last_success_at:
        moment = dt.datetime.fromtimestamp(source.last_success_at - TAXII_OVERLAP_SECONDS, dt.UTC)
        since["added_after"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with _verify(source) as verify:
        collection = Collection(
            f"{source.url.rstrip('/')}/collections/{source.collection}/",
            user=source.username, password=repository.secret_of(store, source.id) if source.username else None,
            verify=verify,
        )
        collection._conn.session.headers["User-Agent"] = USER_AGENT
        collection._conn.session.trust_env = False  # no proxy or CA bundle from the environment: what is configured
        for envelope in as_pages(collection.get_objects, per_request=TAXII_PAGE, **since):
            yield from envelope.get("objects") or []


@contextlib.contextmanager
def _verify(source: Source) -> Iterator[str | bool]:
    """The feed's own CA as the file `requests` (under taxii2-client) takes, else the system's trust store."""
    if not source.ca_cert:
        yield ssl.get_default_verify_paths().cafile or True
        return
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as bundle:
        bundle.write(source.ca_cert)
        bundle.flush()
        yield bundle.name


class FeedStep:
    """A notifier step: fetch the most overdue feed, if one is due."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, now: float) -> int:
        due = repository.due_feeds(self.store, now)
        if not due:
            return 0
        source = due[0]
        try:
            result = fetch(self.store, source, now)
        except ImportFailed as error:
            log.warning("feed %s failed: %s", source.name, error)
            return 0
        log.info("feed %s: %d indicators, %d new, %d refused", source.name, result.received, result.added,
                 result.refused)
        return 1
