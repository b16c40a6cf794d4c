"""GET/PUT /settings/cloud: what the box sends to the vendor and whether it does; POST .../sync sends now."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import JSONBody

from appliance.api.errors import BadGateway, Conflict, Locked
from appliance.api.security import admin, viewer
from appliance.audit.requests import record_request
from appliance.cloud_sync import heartbeat
from appliance.cloud_sync.settings import (
    CloudSettings,
    CloudStatus,
    IntervalSeconds,
    check_url,
    load_settings,
    load_status,
    save_settings,
)
from appliance.licensing import box_license, sovereignty
from appliance.licensing.protocol import LICENSE_KEY_HEADER
from appliance.store.database import Store


class CloudView(msgspec.Struct):
    settings: CloudSettings
    status: CloudStatus
    request: str
    """How the payload travels (method, URL, the one header that authenticates the box)."""
    payload: sovereignty.CloudHeartbeat | None
    """Exactly what the next heartbeat would carry, with today's values; null without a license."""
    fields: list[dict[str, Any]]
    """Every field of `payload` with its value and its meaning in plain words."""


class CloudSettingsChange(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | None = None
    url: str | None = None
    interval_seconds: IntervalSeconds | None = None


def cloud_view(store: Store) -> CloudView:
    settings = load_settings(store)
    current = box_license.installed(store, box_license.trusted_keys())
    payload = heartbeat.payload(store, current.license) if current is not None else None
    return CloudView(
        settings=settings,
        status=load_status(store),
        request=f"POST {settings.url}/v1/heartbeat with header {LICENSE_KEY_HEADER}: <the installed license key>",
        payload=payload,
        fields=sovereignty.describe_payload(payload) if payload is not None else [],
    )


class CloudSyncController(Controller):
    path = "/settings/cloud"
    tags = ["settings"]

    @get("/", guards=[viewer], sync_to_thread=True, summary="The cloud link: settings, status, the exact payload")
    def show(self, store: NamedDependency[Store]) -> CloudView:
        return cloud_view(store)

    @put("/", guards=[admin], sync_to_thread=True, summary="Switch the cloud link on/off, set its URL and interval")
    def change(self, data: JSONBody[CloudSettingsChange], request: Request, store: NamedDependency[Store]) -> CloudView:
        changes = {name: value for name, value in msgspec.structs.asdict(data).items() if value is not None}
        if "url" in changes:
            try:
                changes["url"] = check_url(changes["url"])
            except ValueError as error:
                raise ValidationException(str(error)) from error
        with store.write_transaction():
            save_settings(store, msgspec.structs.replace(load_settings(store), **changes))
        record_request(
            store,
            request,
            action="cloud_sync.changed",
            target="settings",
            details=changes,
        )
        return cloud_view(store)

    @post(
        "/sync",
        guards=[admin],
        status_code=200,
        sync_to_thread=True,
        raises=[Conflict, Locked, BadGateway],
        summary="Send one heartbeat now",
    )
    def sync_now(self, store: NamedDependency[Store]) -> CloudStatus:
        if not load_settings(store).enabled:
            raise Conflict("the cloud link is switched off: enable it first (PUT /settings/cloud)")
        status = heartbeat.sync_once(store, box_license.trusted_keys(), attempts=1)
        if status.result == "no_license":
            raise Locked(status.detail)
        if status.result != "ok":
            raise BadGateway(f"heartbeat failed: {status.detail}")
        return status
