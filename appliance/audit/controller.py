"""GET /settings/audit-log."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from appliance.api.paging import Offset
from appliance.api.security import admin
from appliance.audit.log import AuditEntry, ChainVerifier, page
from appliance.store.database import Store


class AuditPage(msgspec.Struct):
    entries: list[AuditEntry]
    total: int
    chain_intact: bool
    first_broken_id: int | None


class AuditController(Controller):
    path = "/settings/audit-log"
    tags = ["settings"]
    guards = [admin]

    @get("/", sync_to_thread=True, summary="Audit log, newest first, with the hash chain checked")
    def audit_log(
        self,
        store: NamedDependency[Store],
        audit_chain: NamedDependency[ChainVerifier],
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: Offset = 0,
    ) -> AuditPage:
        entries, total = page(store, limit, offset)
        intact, broken, _ = audit_chain.verify(store)
        return AuditPage(entries=entries, total=total, chain_intact=intact, first_broken_id=broken)
