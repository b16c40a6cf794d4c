"""Cloud-link settings (admin-set) and the last sync result, both in the `settings` table."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from appliance.licensing.box_license import InstalledLicense
from appliance.licensing.cloud_client import CloudLink
from appliance.store.database import Store

SETTINGS_KEY = "cloud_sync"
STATUS_KEY = "cloud_sync_status"
DEFAULT_URL = "https://licensing.netsenx.com"


IntervalSeconds = Annotated[int, msgspec.Meta(ge=60, le=7 * 86_400)]


class CloudSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = False
    url: str = DEFAULT_URL
    interval_seconds: IntervalSeconds = 3600


SyncResult = Literal["never", "ok", "unavailable", "rejected", "no_license"]


class CloudStatus(msgspec.Struct, kw_only=True):
    result: SyncResult = "never"
    detail: str = ""
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    revoked: bool = False
    """The vendor's word in the last successful heartbeat (shown to the admin; detection never stops)."""
    latest_sensor_version: str | None = None
    latest_appliance_version: str | None = None
    license_refreshed_at: float | None = None


def load_settings(store: Store) -> CloudSettings:
    return msgspec.convert(store.get_setting(SETTINGS_KEY, {}), CloudSettings)


def save_settings(store: Store, settings: CloudSettings) -> None:
    store.set_setting(SETTINGS_KEY, msgspec.to_builtins(settings))


def load_status(store: Store) -> CloudStatus:
    return msgspec.convert(store.get_setting(STATUS_KEY, {}), CloudStatus)


def save_status(store: Store, status: CloudStatus) -> None:
    store.set_setting(STATUS_KEY, msgspec.to_builtins(status))


def cloud_link(settings: CloudSettings, current: InstalledLicense) -> CloudLink:
    return CloudLink(base_url=settings.url, license_key=current.key, license_id=current.license.license_id)


def check_url(url: str) -> str:
    """The licensing service's base URL, or ValueError saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url: must be an http(s) URL with a host, e.g. https://licensing.netsenx.com")
    if parts.query or parts.fragment:
        raise ValueError("url: must not carry a query or fragment")
    return url.strip().rstrip("/")
