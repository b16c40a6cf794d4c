"""GET/PUT /settings/retention: how many days the box keeps each kind of evidence (the engine prunes)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody

from appliance.api.security import admin, viewer
from appliance.audit.requests import record_request
from appliance.evidence import retention
from appliance.evidence.retention import Days, Megabytes, Percent, RetentionSettings
from appliance.store.database import Store


class RetentionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the kinds given change."""

    flows_days: Days | None = None
    traces_days: Days | None = None
    audit_log_days: Days | None = None
    packets_max_mb: Megabytes | None = None
    evidence_disk_percent: Percent | None = None


class RetentionController(Controller):
    path = "/settings/retention"
    tags = ["settings"]

    @get("/", guards=[viewer], sync_to_thread=True, summary="Days each kind of evidence is kept")
    def get_retention(self, store: NamedDependency[Store]) -> RetentionSettings:
        return retention.load_settings(store)

    @put("/", guards=[admin], sync_to_thread=True,
         summary="Change how long evidence is kept (only the kinds given); the engine prunes within the hour")
    def put_retention(
        self, data: JSONBody[RetentionUpdate], request: Request, store: NamedDependency[Store]
    ) -> RetentionSettings:
        changes = {name: value for name, value in msgspec.structs.asdict(data).items() if value is not None}
        with store.write_transaction():
            saved = msgspec.structs.replace(retention.load_settings(store), **changes)
            retention.save_settings(store, saved)
            record_request(store, request, "retention.updated", "retention", changes)
        return saved
