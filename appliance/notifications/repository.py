"""SQL for notification channels (migration 0010): the admin's configuration and the state the API shows."""

from __future__ import annotations

import json
import time
import uuid

import msgspec

from appliance.delivery import webhook
from appliance.notifications.models import (
    SECRET_FIELDS,
    Channel,
    ChannelIn,
    ChannelSettings,
    ChannelState,
    Content,
    NotificationSettings,
    Routing,
    WebhookSettings,
)
from appliance.store.database import Store

SETTINGS_KEY = "notifications"

_SETTINGS = msgspec.json.Decoder(ChannelSettings)
_ROUTING = msgspec.json.Decoder(Routing)
_CONTENT = msgspec.json.Decoder(Content)


class ChannelNameTaken(ValueError):
    pass


def load_settings(store: Store) -> NotificationSettings:
    return msgspec.convert(store.get_setting(SETTINGS_KEY, {}), NotificationSettings)


def save_settings(store: Store, settings: NotificationSettings) -> None:
    store.set_setting(SETTINGS_KEY, msgspec.to_builtins(settings))


def _stored(settings: ChannelSettings) -> tuple[str, str]:
    """(config, secrets) as stored: the settings with their secrets taken out, and those secrets."""
    secrets = {name: getattr(settings, name) for name in SECRET_FIELDS if getattr(settings, name, None)}
    config = msgspec.structs.replace(settings, **dict.fromkeys(secrets))
    return msgspec.json.encode(config).decode(), json.dumps(secrets)


def _channel(row: dict, *, with_secrets: bool) -> Channel:
    settings = _SETTINGS.decode(row["config"])
    secrets = json.loads(row["secrets"])
    if with_secrets:
        settings = msgspec.structs.replace(settings, **secrets)
    return Channel(
        id=row["id"], name=row["name"], kind=row["kind"], enabled=bool(row["enabled"]), settings=settings,
        secrets_set=sorted(secrets), routing=_ROUTING.decode(row["routing"]), content=_CONTENT.decode(row["content"]),
        created_by=row["created_by"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


def _state(store: Store, channel_id: str) -> ChannelState:
    row = store.query_one("SELECT * FROM notification_channel_state WHERE channel_id = ?", (channel_id,)) or {}
    counts = {item["status"]: item["n"] for item in store.query(
        "SELECT status, count(*) AS n FROM notification_outbox WHERE channel_id = ? AND status IN ('pending', 'dead') "
        "GROUP BY status", (channel_id,))}
    held = store.query_one("SELECT count(*) AS n FROM notification_alerts WHERE channel_id = ? AND outbox_id IS NULL",
                           (channel_id,))["n"]
    return ChannelState(
        failures=row.get("failures", 0), retry_at=row.get("retry_at") or None, last_error=row.get("last_error", ""),
        last_success_at=row.get("last_success_at"), last_failure_at=row.get("last_failure_at"),
        pending=counts.get("pending", 0), dead=counts.get("dead", 0), held=held,
    )


def get_channel(store: Store, channel_id: str, *, with_secrets: bool = False) -> Channel | None:
    row = store.query_one("SELECT * FROM notification_channels WHERE id = ?", (channel_id,))
    if row is None:
        return None
    channel = _channel(row, with_secrets=with_secrets)
    channel.state = _state(store, channel_id)
    return channel


def list_channels(store: Store, *, with_secrets: bool = False, enabled_only: bool = False) -> list[Channel]:
    where = "WHERE enabled = 1" if enabled_only else ""
    rows = store.query(f"SELECT * FROM notification_channels {where} ORDER BY name")
    channels = [_channel(row, with_secrets=with_secrets) for row in rows]
    if not with_secrets:
        for channel in channels:
            channel.state = _state(store, channel.id)
    return channels


def _with_secrets(settings: ChannelSettings, previous: ChannelSettings | None) -> tuple[ChannelSettings, str | None]:
    """Secrets the admin left out are kept from before (same kind); a json webhook without one gets a new one.
    Returns (settings to store, the secret made up now or None)."""
    if previous is not None and type(previous) is type(settings):
        kept = {name: getattr(previous, name) for name in SECRET_FIELDS
                if hasattr(settings, name) and getattr(settings, name) is None and getattr(previous, name)}
        settings = msgspec.structs.replace(settings, **kept)
    if isinstance(settings, WebhookSettings) and settings.format == "json" and not settings.secret:
        generated = webhook.new_secret()
        return msgspec.structs.replace(settings, secret=generated), generated
    return settings, None


def _name_taken(store: Store, name: str, but: str | None) -> None:
    if store.query_one("SELECT 1 FROM notification_channels WHERE name = ? AND id IS NOT ?", (name, but)):
        raise ChannelNameTaken(f"name: a channel called {name!r} exists already")


def create_channel(store: Store, data: ChannelIn, created_by: str, now: float | None = None) -> Channel:
    now = time.time() if now is None else now
    channel_id = uuid.uuid4().hex[:16]
    settings, generated = _with_secrets(data.settings, None)
    with store.write_transaction():
        _name_taken(store, data.name, None)
        store.execute(
            "INSERT INTO notification_channels (id, name, kind, enabled, config, secrets, routing, content, "
            "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (channel_id, data.name, _kind(settings), int(data.enabled), *_stored(settings),
             msgspec.json.encode(data.routing).decode(), msgspec.json.encode(data.content).decode(), created_by,
             now, now),
        )
    channel = get_channel(store, channel_id)
    channel.generated_secret = generated
    return channel


def update_channel(store: Store, channel_id: str, data: ChannelIn, now: float | None = None) -> Channel | None:
    now = time.time() if now is None else now
    with store.write_transaction():
        before = get_channel(store, channel_id, with_secrets=True)
        if before is None:
            return None
        _name_taken(store, data.name, channel_id)
        settings, generated = _with_secrets(data.settings, before.settings)
        store.execute(
            "UPDATE notification_channels SET name = ?, kind = ?, enabled = ?, config = ?, secrets = ?, routing = ?, "
            "content = ?, updated_at = ? WHERE id = ?",
            (data.name, _kind(settings), int(data.enabled), *_stored(settings),
             msgspec.json.encode(data.routing).decode(), msgspec.json.encode(data.content).decode(), now, channel_id),
        )
        # A changed destination deserves a fresh start: the back-off of the old one does not apply.
        store.execute("DELETE FROM notification_channel_state WHERE channel_id = ?", (channel_id,))
    channel = get_channel(store, channel_id)
    channel.generated_secret = generated
    return channel


def rotate_secret(store: Store, channel_id: str, now: float | None = None) -> Channel | None:
    """A new signing secret for a webhook channel (the old one stops being used at once)."""
    with store.write_transaction():
        channel = get_channel(store, channel_id, with_secrets=True)
        if channel is None or not isinstance(channel.settings, WebhookSettings):
            return channel
        secret = webhook.new_secret()
        settings = msgspec.structs.replace(channel.settings, secret=secret)
        store.execute("UPDATE notification_channels SET config = ?, secrets = ?, updated_at = ? WHERE id = ?",
                      (*_stored(settings), time.time() if now is None else now, channel_id))
    channel = get_channel(store, channel_id)
    channel.generated_secret = secret
    return channel


def delete_channel(store: Store, channel_id: str) -> bool:
    """The channel goes with its queued messages and its delivery history (ON DELETE CASCADE)."""
    return store.execute("DELETE FROM notification_channels WHERE id = ?", (channel_id,)) > 0


def _kind(settings: ChannelSettings) -> str:
    return type(settings).__struct_config__.tag
