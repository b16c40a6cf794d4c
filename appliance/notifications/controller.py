"""/notifications: channels (with "send a test"), the box's name and address for messages, the outbox and its
dead letters. The notifier service (`appliance notify`) does the sending; a test is sent from here, at once."""

from __future__ import annotations

import time

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from appliance.api.errors import BadGateway, Conflict
from appliance.api.security import admin, viewer
from appliance.audit.requests import record_request
from appliance.notifications import outbox, repository
from appliance.notifications.messages import sample_message
from appliance.notifications.models import (
    Channel,
    ChannelIn,
    ChannelList,
    InvalidChannel,
    NotificationSettings,
    OutboxEntry,
    OutboxList,
    OutboxStatus,
    TestResult,
    check_channel,
)
from appliance.notifications.router import new_message_id
from appliance.notifications.sending import describe_destination, send
from appliance.notifications.trial import send_trial
from appliance.store.database import Store

TEST_TIMEOUT_SECONDS = 15.0
OUTBOX_ID = Parameter(pattern=r"^[1-9][0-9]{0,17}$", description="the message's number in the outbox")


def checked(data: ChannelIn) -> ChannelIn:
    try:
        check_channel(data)
    except InvalidChannel as error:
        raise ValidationException(str(error)) from error
    return data


def existing(store: Store, channel_id: str, *, with_secrets: bool = False) -> Channel:
    channel = repository.get_channel(store, channel_id, with_secrets=with_secrets)
    if channel is None:
        raise NotFoundException(f"no notification channel {channel_id}")
    return channel


def dead_letter(store: Store, outbox_id: int) -> OutboxEntry:
    found = outbox.entry(store, outbox_id)
    if found is None:
        raise NotFoundException(f"no message {outbox_id} in the outbox")
    if found.status != "dead":
        raise Conflict(f"message {outbox_id} is {found.status}, not a dead letter")
    return found


def audit_details(channel: Channel) -> dict:
    return {"name": channel.name, "kind": channel.kind, "enabled": channel.enabled,
            "destination": describe_destination(channel.settings), "min_severity": channel.routing.min_severity,
            "content": {"addresses": channel.content.addresses, "evidence": channel.content.evidence}}


class NotificationsController(Controller):
    path = "/notifications"
    tags = ["notifications"]

    @get("/channels", guards=[viewer], sync_to_thread=True, summary="Notification channels (secrets never shown)")
    def list_channels(self, store: NamedDependency[Store]) -> ChannelList:
        channels = repository.list_channels(store)
        return ChannelList(channels=channels, total=len(channels))

    @post("/channels", guards=[admin], sync_to_thread=True, raises=[ValidationException, Conflict],
          summary="Add a channel: e-mail, syslog or webhook (json, slack, teams)")
    def create_channel(self, data: JSONBody[ChannelIn], request: Request, store: NamedDependency[Store]) -> Channel:
        try:
            channel = repository.create_channel(store, checked(data), request.user.name)
        except repository.ChannelNameTaken as error:
            raise Conflict(str(error)) from error
        record_request(store, request, action="notification_channel.created", target=channel.id,
                       details=audit_details(channel))
        return channel

    @get("/channels/{channel_id:str}", guards=[viewer], sync_to_thread=True, summary="One channel and its state")
    def get_channel(self, channel_id: FromPath[str], store: NamedDependency[Store]) -> Channel:
        return existing(store, channel_id)

    @put("/channels/{channel_id:str}", guards=[admin], sync_to_thread=True, raises=[ValidationException, Conflict],
         summary="Change a channel; secrets left out are kept")
    def update_channel(self, channel_id: FromPath[str], data: JSONBody[ChannelIn], request: Request,
                       store: NamedDependency[Store]) -> Channel:
        try:
            channel = repository.update_channel(store, channel_id, checked(data))
        except repository.ChannelNameTaken as error:
            raise Conflict(str(error)) from error
        if channel is None:
            raise NotFoundException(f"no notification channel {channel_id}")
        record_request(store, request, action="notification_channel.changed", target=channel_id,
                       details=audit_details(channel))
        return channel

    @delete("/channels/{channel_id:str}", guards=[admin], status_code=200, sync_to_thread=True,
            summary="Remove a channel, its queued messages and its delivery history")
    def delete_channel(self, channel_id: FromPath[str], request: Request, store: NamedDependency[Store]
                       ) -> dict[str, str]:
        channel = existing(store, channel_id)
        repository.delete_channel(store, channel_id)
        record_request(store, request, action="notification_channel.deleted", target=channel_id,
                       details=audit_details(channel))
        return {"detail": f"notification channel {channel_id} deleted"}

    @post("/channels/{channel_id:str}/test", guards=[admin], status_code=200, sync_to_thread=True,
          raises=[BadGateway], summary="Send a test message now (a made-up alert); 502 says why it failed")
    def test_channel(self, channel_id: FromPath[str], request: Request, store: NamedDependency[Store]) -> TestResult:
        channel = existing(store, channel_id, with_secrets=True)
        message = sample_message(channel.content, repository.load_settings(store), new_message_id(), time.time())
        elapsed = send_trial(store, request, action="notification_channel.tested", target=channel_id, what="message",
                             attempt=lambda: send(channel.settings, message, TEST_TIMEOUT_SECONDS))
        return TestResult(detail=f"delivered to {describe_destination(channel.settings)}",
                          message_id=message.message_id, elapsed_ms=elapsed)

    @post("/channels/{channel_id:str}/rotate-secret", guards=[admin], status_code=200, sync_to_thread=True,
          raises=[Conflict], summary="A new webhook signing secret, shown once in generated_secret")
    def rotate_secret(self, channel_id: FromPath[str], request: Request, store: NamedDependency[Store]) -> Channel:
        if existing(store, channel_id).kind != "webhook":
            raise Conflict("only webhook channels sign their messages")
        channel = repository.rotate_secret(store, channel_id)
        record_request(store, request, action="notification_channel.secret_rotated", target=channel_id)
        return channel

    @get("/settings", guards=[viewer], sync_to_thread=True, summary="This box's name and address in messages")
    def show_settings(self, store: NamedDependency[Store]) -> NotificationSettings:
        return repository.load_settings(store)

    @put("/settings", guards=[admin], sync_to_thread=True, summary="Set this box's name and address for messages")
    def change_settings(self, data: JSONBody[NotificationSettings], request: Request,
                        store: NamedDependency[Store]) -> NotificationSettings:
        repository.save_settings(store, data)
        record_request(store, request, action="notification_settings.changed", target="settings",
                       details={"box_name": data.box_name, "box_url": data.box_url})
        return data

    @get("/outbox", guards=[viewer], sync_to_thread=True,
         summary="Messages queued, sent and dead (the dead-letter list: status=dead), newest first")
    def list_outbox(
        self,
        store: NamedDependency[Store],
        status: FromQuery[OutboxStatus | None] = None,
        channel_id: str | None = Parameter(default=None, max_length=64),
        alert_id: str | None = Parameter(default=None, max_length=64, description="messages that carried this alert"),
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: int = Parameter(default=0, ge=0, le=10**18),
    ) -> OutboxList:
        found, total = outbox.entries(store, status=status, channel_id=channel_id, alert_id=alert_id, limit=limit,
                                      offset=offset)
        return OutboxList(entries=found, total=total)

    @post("/outbox/{outbox_id:str}/retry", guards=[admin], status_code=200, sync_to_thread=True, raises=[Conflict],
          summary="Send a dead letter again (same message id)")
    def retry(self, request: Request, store: NamedDependency[Store], outbox_id: str = OUTBOX_ID) -> OutboxEntry:
        dead_letter(store, int(outbox_id))
        outbox.send_again(store, int(outbox_id))
        record_request(store, request, action="notification.retried", target=outbox_id)
        return outbox.entry(store, int(outbox_id))

    @delete("/outbox/{outbox_id:str}", guards=[admin], status_code=200, sync_to_thread=True, raises=[Conflict],
            summary="Discard a dead letter for good")
    def discard(self, request: Request, store: NamedDependency[Store], outbox_id: str = OUTBOX_ID) -> dict[str, str]:
        found = dead_letter(store, int(outbox_id))
        outbox.discard(store, int(outbox_id))
        record_request(store, request, action="notification.discarded", target=outbox_id,
                       details={"channel": found.channel_name, "title": found.title, "error": found.last_error})
        return {"detail": f"dead letter {outbox_id} discarded"}
