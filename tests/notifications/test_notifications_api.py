"""/api/v1/notifications: channels with write-only secrets, "send a test", the outbox and dead letters,
the box's name and address; /api/v1/egress shows each destination with exactly what it receives."""

from __future__ import annotations

import json

import pytest

from appliance.auth import users
from appliance.notifications import outbox, repository
from appliance.notifications.messages import sample_message
from appliance.notifications.models import Content, NotificationSettings
from tests.conftest import free_port, login

VIEWER_PASSWORD = "viewer password that is long"


def webhook_body(receiver, ca, **overrides) -> dict:
    return {"name": "soc hook", "settings": {"kind": "webhook", "url": receiver.url(), "ca_pem": ca.ca_pem},
            "routing": {"min_severity": "HIGH"}, **overrides}


def audit_actions(store) -> list[str]:
    return [row["action"] for row in store.query("SELECT action FROM audit_log ORDER BY id")]


def test_a_webhook_secret_is_made_up_shown_once_and_kept_when_the_channel_changes(api, admin_headers, receiver, ca,
                                                                                    store):
    created = api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers)
    assert created.status_code == 201, created.text
    channel = created.json()
    secret = channel["generated_secret"]
    assert secret.startswith("whsec_") and channel["settings"]["secret"] is None
    assert channel["secrets_set"] == ["secret"]
    shown = api.get(f"/notifications/channels/{channel['id']}", headers=admin_headers).json()
    assert shown["generated_secret"] is None and secret not in json.dumps(shown)
    listed = api.get("/notifications/channels", headers=admin_headers).text
    assert secret not in listed
    changed = api.put(f"/notifications/channels/{channel['id']}", headers=admin_headers,
                      json=webhook_body(receiver, ca, name="renamed", routing={"min_severity": "LOW"}))
    assert changed.status_code == 200 and changed.json()["generated_secret"] is None
    stored = repository.get_channel(store, channel["id"], with_secrets=True)
    assert stored.settings.secret == secret and stored.name == "renamed"
    rotated = api.post(f"/notifications/channels/{channel['id']}/rotate-secret", headers=admin_headers).json()
    assert rotated["generated_secret"] not in (None, secret)
    channel_actions = [action for action in audit_actions(store) if action.startswith("notification_channel")]
    assert channel_actions == ["notification_channel.created", "notification_channel.changed",
                               "notification_channel.secret_rotated"]


def test_an_smtp_password_is_never_returned(api, admin_headers):
    body = {"name": "mail", "settings": {"kind": "email", "host": "smtp.example.org", "username": "box",
                                         "password": "hunter2 but longer", "from_address": "box@example.org",
                                         "to": ["soc@example.org"]}}
    created = api.post("/notifications/channels", json=body, headers=admin_headers)
    assert created.status_code == 201
    assert "hunter2" not in created.text and created.json()["secrets_set"] == ["password"]
    assert created.json()["settings"]["security"] == "starttls" and created.json()["settings"]["port"] == 587


@pytest.mark.parametrize(("settings", "detail"), [
    ({"kind": "webhook", "url": "http://hooks.example.org/x"}, "settings.url: webhooks go over HTTPS"),
    ({"kind": "webhook", "url": "https://hooks.example.org/x", "secret": "whsec_c2hvcnQ="}, "settings.secret:"),
    ({"kind": "syslog", "host": "-bad-.example"}, "settings.host:"),
    ({"kind": "syslog", "host": "siem.example.org", "ca_pem": "not a certificate"}, "settings.ca_pem:"),
    ({"kind": "email", "host": "smtp.example.org", "password": "x", "from_address": "a@example.org",
      "to": ["b@example.org"]}, "settings.password: give the username"),
])
def test_bad_channels_are_refused_with_the_field_named(api, admin_headers, settings, detail):
    response = api.post("/notifications/channels", json={"name": "bad", "settings": settings}, headers=admin_headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)


def test_quiet_hours_need_a_real_span_and_names_are_unique(api, admin_headers, receiver, ca):
    body = webhook_body(receiver, ca, routing={"quiet_hours": {"start": "22:00", "end": "22:00"}})
    assert api.post("/notifications/channels", json=body, headers=admin_headers).status_code == 400
    first = api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers)
    assert first.status_code == 201
    again = api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]


def test_only_admins_change_channels_and_viewers_see_them(api, admin_headers, store, receiver, ca):
    users.create_user(store, "watcher", VIEWER_PASSWORD, "viewer")
    viewer = login(api, "watcher", VIEWER_PASSWORD)
    assert api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=viewer).status_code == 403
    api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers)
    assert api.get("/notifications/channels", headers=viewer).json()["total"] == 1


def test_send_a_test_reaches_the_receiver_or_says_why_not(api, admin_headers, receiver, ca, store):
    channel = api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers).json()
    receiver.secret = channel["generated_secret"]
    sent = api.post(f"/notifications/channels/{channel['id']}/test", headers=admin_headers)
    assert sent.status_code == 200, sent.text
    delivery, = receiver.deliveries
    assert delivery.verified and delivery.json()["kind"] == "test"
    assert delivery.headers["webhook-id"] == sent.json()["message_id"]
    closed = {"name": "nobody", "settings": {"kind": "syslog", "host": "127.0.0.1", "port": free_port(),
                                              "transport": "tcp"}}
    dead = api.post("/notifications/channels", json=closed, headers=admin_headers).json()
    failed = api.post(f"/notifications/channels/{dead['id']}/test", headers=admin_headers)
    assert failed.status_code == 502
    assert "cannot connect to 127.0.0.1" in failed.json()["detail"]
    assert audit_actions(store).count("notification_channel.tested") == 2


def test_the_dead_letter_list_can_send_again_or_discard(api, admin_headers, store, receiver, ca):
    channel = api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers).json()
    with store.write_transaction() as connection:
        message = sample_message(Content(), NotificationSettings(), "nsx-dead", 0)
        message.kind = "alert"
        dead = outbox.queue(connection, channel["id"], message, 0)
        message = sample_message(Content(), NotificationSettings(), "nsx-dead-2", 0)
        message.kind = "alert"
        other = outbox.queue(connection, channel["id"], message, 0)
        connection.execute("UPDATE notification_outbox SET status = 'dead', last_error = 'HTTP 400'")
    letters = api.get("/notifications/outbox", params={"status": "dead"}, headers=admin_headers).json()
    assert letters["total"] == 2 and {entry["last_error"] for entry in letters["entries"]} == {"HTTP 400"}
    again = api.post(f"/notifications/outbox/{dead}/retry", headers=admin_headers)
    assert again.status_code == 200 and again.json()["status"] == "pending" and again.json()["attempts"] == 0
    assert api.post(f"/notifications/outbox/{dead}/retry", headers=admin_headers).status_code == 409
    assert api.delete(f"/notifications/outbox/{other}", headers=admin_headers).status_code == 200
    assert api.get("/notifications/outbox", headers=admin_headers).json()["total"] == 1
    assert api.post("/notifications/outbox/99999/retry", headers=admin_headers).status_code == 404
    assert api.post("/notifications/outbox/abc/retry", headers=admin_headers).status_code == 400


def test_delivery_status_per_alert(api, admin_headers, store, alerts, receiver, ca):
    from appliance.notifications.notifier import Notifier

    channel = api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers).json()
    receiver.secret = channel["generated_secret"]
    alert_id = alerts.raise_alert()
    other = alerts.raise_alert()
    service = Notifier(store)
    service.run_once()
    service.close()
    found = api.get("/notifications/outbox", params={"alert_id": alert_id}, headers=admin_headers).json()
    entry, = found["entries"]
    assert entry["alert_ids"] == [alert_id] and entry["status"] == "sent" and entry["channel_name"] == "soc hook"
    assert other not in json.dumps(found)


def test_the_box_name_and_address_in_messages(api, admin_headers):
    assert api.get("/notifications/settings", headers=admin_headers).json() == {"box_name": "NetSenX", "box_url": None}
    changed = api.put("/notifications/settings", json={"box_name": "HQ box", "box_url": "https://netsenx.hq.lan"},
                      headers=admin_headers)
    assert changed.status_code == 200
    assert api.get("/notifications/settings", headers=admin_headers).json()["box_url"] == "https://netsenx.hq.lan"
    assert api.put("/notifications/settings", json={"box_url": "ftp://x"}, headers=admin_headers).status_code == 400


def test_what_leaves_the_box_lists_every_destination_with_exactly_what_it_receives(api, admin_headers, receiver, ca):
    api.post("/notifications/channels", json=webhook_body(receiver, ca), headers=admin_headers)
    api.post("/notifications/channels", headers=admin_headers, json={
        "name": "mail", "settings": {"kind": "email", "host": "smtp.example.org", "security": "none",
                                     "from_address": "box@example.org", "to": ["soc@example.org"]},
        "content": {"addresses": False, "evidence": True}})
    view = api.get("/egress", headers=admin_headers).json()
    by_name = {destination["name"]: destination for destination in view["destinations"]}
    assert set(by_name) == {"Vendor licensing service", "soc hook", "mail"}
    hook, mail = by_name["soc hook"], by_name["mail"]
    assert hook["encrypted"] and hook["endpoints"] == [{"host": "127.0.0.1", "port": receiver.port,
                                                        "protocol": "tcp"}]
    assert json.loads(hook["example"])["alerts"][0]["source_ip"] == "192.0.2.10"
    assert "example_user" not in hook["example"]  # evidence off by default: the sample's user name stays home
    assert any("evidence" in item for item in hook["never"])
    assert not mail["encrypted"] and "NOT ENCRYPTED" in mail["address"]
    assert "192.0.2.10" not in mail["example"] and "example_user" in mail["example"]
    assert any("IP addresses" in item for item in mail["never"])
    assert by_name["Vendor licensing service"]["enabled"] is False


def test_a_nested_field_that_fails_its_pattern_is_quoted_as_sent(api, admin_headers):
    """The 400 quotes what was sent for a field inside an object or a list, not None."""
    body = {"name": "mail", "settings": {"kind": "email", "host": "smtp.example.org", "from_address": "box@example.org",
                                         "to": ["soc@example.org", "not an address"]}}
    response = api.post("/notifications/channels", json=body, headers=admin_headers)
    assert response.json()["detail"].startswith("settings.to[1]: 'not an address' is not")
    body = {"name": "hook", "settings": {"kind": "webhook", "url": "https://user:pw@hooks.example.org/x"}}
    response = api.post("/notifications/channels", json=body, headers=admin_headers)
    assert response.json()["detail"].startswith("settings.url: 'https://user:pw@hooks.example.org/x' is not")


def test_the_gdpr_export_holds_the_channels_but_none_of_their_secrets_nor_any_api_token(api, admin_headers, store):
    import io
    import zipfile

    mail = {"name": "mail", "settings": {"kind": "email", "host": "smtp.example.org", "username": "box",
                                         "password": "smtp-password-only-here", "from_address": "box@example.org",
                                         "to": ["soc@example.org"]}}
    hook = api.post("/notifications/channels", headers=admin_headers, json={
        "name": "hook", "settings": {"kind": "webhook", "url": "https://hooks.example.org/x"}}).json()
    assert api.post("/notifications/channels", json=mail, headers=admin_headers).status_code == 201
    token = api.post("/api-tokens", json={"name": "script"}, headers=admin_headers).json()["token"]
    digest = store.query_one("SELECT secret_sha256 FROM api_tokens")["secret_sha256"]
    raw = api.get("/tenant/export", headers=admin_headers).content
    archive = zipfile.ZipFile(io.BytesIO(raw))
    contents = [raw] + [archive.read(name) for name in archive.namelist()]
    for secret in ("smtp-password-only-here", hook["generated_secret"], token.rsplit("_", 1)[1], digest):
        assert not any(secret.encode() in content for content in contents)
    channels = json.loads(archive.read("tables/notification_channels.json"))
    assert {json.loads(channel["config"])["kind"] for channel in channels} == {"email", "webhook"}
    assert "smtp.example.org" in json.dumps(channels)
