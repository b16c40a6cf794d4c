"""/threat-intel: sources (file imports and scheduled feeds), indicators, search, the site's allowlist."""

from __future__ import annotations

import functools
import time
from typing import Annotated

import anyio.to_thread
import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from appliance.api.errors import Conflict
from appliance.api.paging import Offset
from appliance.api.security import admin, analyst, viewer
from appliance.audit.requests import record_request
from appliance.intel import imports, repository, retro_hunt
from appliance.intel.feeds import NAME_PATTERN, FeedIn, InvalidFeed, check_feed
from appliance.intel.imports import ImportFailed, ImportResult
from appliance.intel.indicators import Kind, NotAnIndicator
from appliance.intel.overrules import allowlist_value
from appliance.intel.repository import AllowlistEntry, DuplicateSource, Format, Source, StoredIndicator
from appliance.intel.search import SearchResult, search
from appliance.store.database import Store

SourceName = Annotated[str, Parameter(min_length=1, max_length=100, pattern=NAME_PATTERN,
                                      description="the source's name (alerts show it as the feed)")]
FileFormat = Annotated[Format | None, QueryParameter(name="format", description="default: recognised from the content")]
ExpiryDays = Annotated[float | None, Parameter(ge=0.01, le=3650, description="indicators without their own expiry stop "
                                               "matching this many days after the file listed them")]
DefaultConfidence = Annotated[int, Parameter(ge=0, le=100, description="for entries that carry none")]
SourceFilter = Annotated[str | None, Parameter(description="a source id or name")]


class SourceChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class Sources(msgspec.Struct):
    sources: list[Source]
    total: int


class Indicators(msgspec.Struct):
    indicators: list[StoredIndicator]
    total: int


class AllowlistIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    """An address, a CIDR or a domain (with its subdomains)."""
    comment: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Allowlist(msgspec.Struct):
    entries: list[AllowlistEntry]


class RetroHunts(msgspec.Struct):
    hunts: list[retro_hunt.Hunt]  # newest first


class FetchQueued(msgspec.Struct):
    source: Source
    status: str = "queued"  # the notifier fetches it within a round


def import_and_record(store: Store, request: Request, name: str, body: bytes, file_format: Format | None,
                      expiry_days: float | None, confidence: int) -> ImportResult:
    try:
        result = imports.import_file(store, name, body, time.time(), file_format, expiry_days=expiry_days,
                                     default_confidence=confidence)
    except ImportFailed as error:
        raise ValidationException(str(error)) from error
    record_request(store, request, action="threat_intel.imported", target=result.source.id,
                   details={"name": name, "received": result.received, "added": result.added,
                            "refused": result.refused})
    return result


class ThreatIntelController(Controller):
    path = "/threat-intel"
    tags = ["threat-intel"]

    @get("/sources", guards=[viewer], sync_to_thread=True,
         summary="Feeds and imports: source, indicator count, last update, last result and errors")
    def sources(self, store: NamedDependency[Store]) -> Sources:
        found = repository.list_sources(store)
        return Sources(sources=found, total=len(found))

    @post("/feeds", guards=[admin], sync_to_thread=True, raises=[ValidationException, Conflict],
          summary="Add a scheduled feed (TAXII 2.1 collection or HTTPS list); the firewall opens it")
    def add_feed(self, data: JSONBody[FeedIn], request: Request, store: NamedDependency[Store]) -> Source:
        try:
            source = repository.create_source(store, check_feed(data), time.time())
        except InvalidFeed as error:
            raise ValidationException(str(error)) from error
        except DuplicateSource as error:
            raise Conflict(str(error)) from error
        record_request(store, request, action="threat_intel.feed_added", target=source.id,
                       details={"name": source.name, "kind": source.kind, "url": source.url})
        return source

    @post("/imports", guards=[admin], status_code=200, raises=[ValidationException],
          request_max_body_size=imports.MAX_FILE_BYTES,
          summary="Import a file: the request body is the file itself (a STIX 2.1 bundle, a MISP event export, a CSV "
                  "or one indicator per line); a later import under the same name replaces that source's list")
    async def import_file(
        self,
        request: Request,
        store: NamedDependency[Store],
        name: SourceName,
        file_format: FileFormat = None,
        expiry_days: ExpiryDays = None,
        confidence: DefaultConfidence = 50,
    ) -> ImportResult:
        body = await request.body()  # async only for this: the store work is one call in a worker thread
        return await anyio.to_thread.run_sync(functools.partial(
            import_and_record, store, request, name, body, file_format, expiry_days, confidence))

    @patch("/sources/{source_id:str}", guards=[admin], sync_to_thread=True, summary="Enable or disable a source")
    def change(self, source_id: FromPath[str], data: JSONBody[SourceChange], request: Request,
               store: NamedDependency[Store]) -> Source:
        source = self._source(store, source_id)
        repository.set_enabled(store, source.id, data.enabled, time.time())
        record_request(store, request, action="threat_intel.source_changed", target=source.id,
                       details={"name": source.name, "enabled": data.enabled})
        return repository.get_source(store, source.id)

    @delete("/sources/{source_id:str}", guards=[admin], status_code=200, sync_to_thread=True,
            summary="Remove a source and its indicators")
    def remove(self, source_id: FromPath[str], request: Request, store: NamedDependency[Store]) -> dict[str, str]:
        source = self._source(store, source_id)
        repository.delete_source(store, source.id)
        record_request(store, request, action="threat_intel.source_deleted", target=source.id,
                       details={"name": source.name, "indicators": source.indicator_count})
        return {"detail": f"source {source.name} and its {source.indicator_count} indicators removed"}

    @post("/sources/{source_id:str}/fetch", guards=[admin], status_code=202, sync_to_thread=True, raises=[Conflict],
          summary="Fetch a feed at the notifier's next round")
    def fetch_now(self, source_id: FromPath[str], store: NamedDependency[Store]) -> FetchQueued:
        source = self._source(store, source_id)
        if source.kind == "file":
            raise Conflict(f"{source.name} is a file import: import the file again to update it")
        if not source.enabled:
            raise Conflict(f"{source.name} is disabled: enable it first")
        repository.fetch_soon(store, source.id)
        return FetchQueued(source=repository.get_source(store, source.id))

    @get("/sources/{source_id:str}/retro-hunts", guards=[viewer], sync_to_thread=True, raises=[NotFoundException],
         summary="The source's retro-hunts: for each import or refresh that brought new indicators, the alerts "
                 "its search of the flow log found later")
    def retro_hunts(self, source_id: FromPath[str], store: NamedDependency[Store]) -> RetroHunts:
        return RetroHunts(hunts=retro_hunt.hunts_of(store, self._source(store, source_id).id))

    @get("/indicators", guards=[viewer], sync_to_thread=True, raises=[NotFoundException],
         summary="Indicators with source, confidence, first and last seen, expiry; 404 for an unknown source")
    def indicators(
        self,
        store: NamedDependency[Store],
        source: SourceFilter = None,
        kind: Annotated[Kind | None, Parameter(description="the kind of indicator")] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        offset: Offset = 0,
    ) -> Indicators:
        source_id = self._source(store, source).id if source else None
        found, total = repository.list_indicators(store, source_id=source_id, kind=kind, limit=limit, offset=offset)
        return Indicators(indicators=found, total=total)

    @get("/search", guards=[viewer], sync_to_thread=True,
         summary="Which sources list an indicator, and whether it matches or what overrules the feeds")
    def search(self, store: NamedDependency[Store],
               q: str = Parameter(min_length=1, max_length=2000, description="an address, domain, URL, hash")
               ) -> SearchResult:
        return search(store, q)

    @get("/allowlist", guards=[viewer], sync_to_thread=True, summary="The site's own allowlist: overrules every feed")
    def allowlist(self, store: NamedDependency[Store]) -> Allowlist:
        return Allowlist(entries=repository.allowlist(store))

    @post("/allowlist", guards=[analyst], sync_to_thread=True, raises=[ValidationException],
          summary="Never match this address, network or domain")
    def allow(self, data: JSONBody[AllowlistIn], request: Request, store: NamedDependency[Store]) -> AllowlistEntry:
        try:
            value = allowlist_value(data.value)
        except NotAnIndicator as error:
            raise ValidationException(str(error)) from error
        entry = repository.allow(store, value, data.comment, request.user.name, time.time())
        record_request(store, request, action="threat_intel.allowed", target=value, details={"comment": data.comment})
        return entry

    @delete("/allowlist", guards=[analyst], status_code=200, sync_to_thread=True, raises=[NotFoundException],
            summary="Remove an allowlist entry")
    def disallow(self, request: Request, store: NamedDependency[Store],
                 value: str = Parameter(min_length=1, max_length=300, description="the entry, as listed")
                 ) -> dict[str, str]:
        if not repository.disallow(store, value):
            raise NotFoundException(f"no allowlist entry {value!r}")
        record_request(store, request, action="threat_intel.allow_removed", target=value, details={})
        return {"detail": f"{value} removed from the allowlist"}

    @staticmethod
    def _source(store: Store, id_or_name: str) -> Source:
        source = repository.get_source(store, id_or_name)
        if source is None:
            raise NotFoundException(f"no threat-intel source {id_or_name!r}")
        return source
