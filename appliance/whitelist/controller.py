"""GET/POST/DELETE /settings/whitelist."""

from __future__ import annotations

import time

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from appliance.api.security import analyst, viewer
from appliance.audit.requests import record_request
from appliance.engine.rules import RULE_NAMES
from appliance.store.database import Store
from appliance.whitelist import repository
from appliance.whitelist.models import InvalidEntry, WhitelistEntry, WhitelistIn, WhitelistList, normalise


class WhitelistController(Controller):
    path = "/settings/whitelist"
    tags = ["settings"]

    @get("/", guards=[viewer], sync_to_thread=True, summary="Whitelist entries")
    def list_entries(self, store: NamedDependency[Store]) -> WhitelistList:
        entries = repository.list_entries(store)
        return WhitelistList(entries=entries, total=len(entries))

    @post("/", guards=[analyst], sync_to_thread=True, summary="Add an entry; matching open alerts are resolved")
    def add(self, data: JSONBody[WhitelistIn], request: Request, store: NamedDependency[Store]) -> WhitelistEntry:
        try:
            entry = normalise(data, RULE_NAMES, time.time())
        except InvalidEntry as error:
            raise ValidationException(str(error)) from error
        stored, suppressed = repository.add_entry(store, entry, request.user.name)
        record_request(
            store,
            request,
            action="whitelist.added",
            target=stored.id,
            details={
                "cidr": stored.cidr,
                "port": stored.port,
                "rule": stored.rule_name,
                "direction": stored.direction,
                "alerts_suppressed": suppressed,
            },
        )
        return stored

    @delete("/{entry_id:str}", guards=[analyst], sync_to_thread=True, status_code=200, summary="Remove an entry")
    def remove(self, entry_id: FromPath[str], request: Request, store: NamedDependency[Store]) -> dict[str, str]:
        removed = repository.delete_entry(store, entry_id)
        if removed is None:
            raise NotFoundException(f"no whitelist entry {entry_id}")
        record_request(
            store,
            request,
            action="whitelist.deleted",
            target=entry_id,
            details={"cidr": removed.cidr},
        )
        return {"detail": f"whitelist entry {entry_id} deleted"}
