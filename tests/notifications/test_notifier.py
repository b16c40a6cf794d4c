"""The notifier over a real store and a real HTTPS receiver: routing, incident updates, storms, quiet hours,
retries with back-off across restarts, dead letters, and what a message leaves out."""

from __future__ import annotations

import json

import pytest

from appliance.alerts.repository import update_alert
from appliance.notifications import outbox, repository
from appliance.notifications.models import ChannelIn, Content, Digest, QuietHours, Routing, WebhookSettings
from appliance.notifications.notifier import Notifier

NOW = 1_800_000_000.0  # a Friday, 08:00 UTC


class Clock:
    def __init__(self, start: float = NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def hook_channel(store, receiver, ca, *, name="hook", format="json", **routing) -> str:
    channel = repository.create_channel(store, ChannelIn(
        name=name, settings=WebhookSettings(url=receiver.url(f"/{name}"), format=format, ca_pem=ca.ca_pem),
        routing=Routing(**routing)), "admin")
    receiver.secret = channel.generated_secret
    return channel.id


def notifier(store, clock: Clock) -> Notifier:
    return Notifier(store, clock=clock, retry=outbox.RetryPolicy(jitter=0.0), send_timeout=10)


def bodies(receiver) -> list[dict]:
    return [delivery.json() for delivery in receiver.deliveries]


def test_an_alert_is_sent_once_signed_and_an_incident_update_is_not_a_new_notification(store, alerts, receiver, ca,
                                                                                       clock):
    hook_channel(store, receiver, ca, min_severity="HIGH")
    first = alerts.raise_alert("PORT_SCAN", "HIGH", now=clock.now)
    service = notifier(store, clock)
    assert service.run_once().delivered == 1
    for _ in range(3):  # the scan goes on
        alerts.update_alert(first, now=clock.now)
    assert service.run_once().delivered == 0
    delivery, = receiver.deliveries
    assert delivery.verified
    message = delivery.json()
    assert message["kind"] == "alert" and message["alerts"][0]["alert_id"] == first
    assert delivery.headers["webhook-id"] == message["message_id"]
    service.close()


def test_an_update_that_escalates_past_the_minimum_is_notified_once_as_escalated(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, min_severity="HIGH")
    alert_id = alerts.raise_alert("DATA_EXFILTRATION", "MEDIUM", now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    assert receiver.deliveries == []  # below the channel's minimum
    alerts.update_alert(alert_id, severity="CRITICAL", now=clock.now)
    alerts.update_alert(alert_id, severity="CRITICAL", now=clock.now)
    service.run_once()
    message, = bodies(receiver)
    assert message["alerts"][0]["escalated"] is True and message["alerts"][0]["severity"] == "CRITICAL"
    assert "(escalated)" in message["title"]
    service.close()


def test_routing_by_minimum_severity_rules_and_sensors(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, name="ot", min_severity="LOW", rules=["OT_UNAUTHORIZED_WRITE"])
    hook_channel(store, receiver, ca, name="plant", min_severity="LOW", sensors=["plant-sensor"])
    hook_channel(store, receiver, ca, name="critical", min_severity="CRITICAL")
    alerts.raise_alert("OT_UNAUTHORIZED_WRITE", "CRITICAL", agent="office-sensor", now=clock.now)
    alerts.raise_alert("NEW_DEVICE", "LOW", agent="plant-sensor", now=clock.now)
    alerts.raise_alert("PORT_SCAN", "HIGH", agent="office-sensor", now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    got = sorted((delivery.path, delivery.json()["alerts"][0]["rule_name"]) for delivery in receiver.deliveries)
    assert got == [("/critical", "OT_UNAUTHORIZED_WRITE"), ("/ot", "OT_UNAUTHORIZED_WRITE"), ("/plant", "NEW_DEVICE")]
    service.close()


def test_an_alert_storm_is_folded_into_one_digest(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, min_severity="LOW", digest=Digest(window_seconds=300, max_immediate=5))
    for index in range(1000):
        alerts.raise_alert("PORT_SCAN" if index % 3 else "NETWORK_SWEEP", "CRITICAL" if index == 700 else "HIGH",
                           now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    assert len(receiver.deliveries) == 5
    clock.advance(299)
    service.run_once()
    assert len(receiver.deliveries) == 5  # the window is not over
    clock.advance(2)
    service.run_once()
    digest = bodies(receiver)[-1]
    assert len(receiver.deliveries) == 6 and digest["kind"] == "digest"
    assert digest["total_alerts"] == 995
    assert digest["by_severity"] == {"CRITICAL": 1, "HIGH": 994}
    assert sum(digest["by_rule"].values()) == 995
    assert digest["alerts"][0]["severity"] == "CRITICAL" and len(digest["alerts"]) == 20
    assert store.query_one("SELECT count(*) AS n FROM notification_alerts WHERE outbox_id IS NULL")["n"] == 0
    service.close()


def test_quiet_hours_hold_all_but_critical_until_they_end(store, alerts, receiver, ca, clock):
    quiet = QuietHours(start="07:00", end="09:00", timezone="UTC", let_through="CRITICAL")
    hook_channel(store, receiver, ca, min_severity="LOW", quiet_hours=quiet)
    alerts.raise_alert("NEW_DEVICE", "LOW", now=clock.now)
    alerts.raise_alert("C2_BEACON", "CRITICAL", now=clock.now)
    alerts.raise_alert("PORT_SCAN", "HIGH", now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    assert [body["alerts"][0]["rule_name"] for body in bodies(receiver)] == ["C2_BEACON"]
    clock.advance(3600 - 1)  # 08:59:59
    service.run_once()
    assert len(receiver.deliveries) == 1
    clock.advance(2)  # 09:00:01
    service.run_once()
    digest = bodies(receiver)[-1]
    assert digest["kind"] == "digest" and digest["total_alerts"] == 2
    service.close()


def test_failures_back_off_and_survive_a_restart_and_each_message_keeps_its_id(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, min_severity="LOW")
    receiver.answers = [503, 500]
    alerts.raise_alert(now=clock.now)
    alerts.raise_alert(now=clock.now)
    first = notifier(store, clock)
    assert first.run_once().failed == 1  # the channel pauses after the first failure: one attempt, not two
    state = repository.get_channel(store, repository.list_channels(store)[0].id).state
    assert state.failures == 1 and state.retry_at == clock.now + 30 and "503" in state.last_error
    clock.advance(29)
    assert first.run_once().failed == 0  # still backing off
    first.close()
    clock.advance(1)
    restarted = notifier(store, clock)  # a new process: all it knows is in the store
    assert restarted.run_once().failed == 1
    assert store.query_one("SELECT failures, retry_at FROM notification_channel_state") == {
        "failures": 2, "retry_at": clock.now + 60}
    clock.advance(60)
    assert restarted.run_once().delivered == 2
    ids = [delivery.headers["webhook-id"] for delivery in receiver.deliveries]
    assert len(ids) == 4 and ids[0] == ids[1] == ids[2] != ids[3]
    assert store.query("SELECT attempts, status FROM notification_outbox ORDER BY id") == [
        {"attempts": 3, "status": "sent"}, {"attempts": 1, "status": "sent"}]
    restarted.close()


def test_a_refused_message_goes_to_the_dead_letters_and_can_be_sent_again(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, min_severity="LOW")
    receiver.answers = [400]
    alerts.raise_alert(now=clock.now)
    alerts.raise_alert(now=clock.now)
    service = notifier(store, clock)
    result = service.run_once()
    assert (result.failed, result.delivered) == (1, 1)  # the next message did not wait behind the refused one
    dead, total = outbox.entries(store, status="dead", channel_id=None, alert_id=None, limit=10, offset=0)
    assert total == 1 and "400" in dead[0].last_error
    assert outbox.send_again(store, dead[0].id, now=clock.now)
    assert service.run_once().delivered == 1
    assert receiver.deliveries[0].headers["webhook-id"] == receiver.deliveries[2].headers["webhook-id"]
    service.close()


def test_a_message_failing_for_a_day_is_given_up(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, min_severity="LOW")
    receiver.answers = [503] * 100
    alerts.raise_alert(now=clock.now)
    service = notifier(store, clock)
    for _ in range(60):
        service.run_once()
        clock.advance(1800)
    entry, = outbox.entries(store, status=None, channel_id=None, alert_id=None, limit=1, offset=0)[0]
    assert entry.status == "dead" and entry.last_error.startswith("gave up after")
    assert 24 <= len(receiver.deliveries) <= 50  # half-hourly once the back-off reached its cap
    service.close()


def test_alerts_an_analyst_already_dismissed_are_not_sent(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, min_severity="LOW")
    dismissed = alerts.raise_alert(now=clock.now)
    update_alert(store.connection(), dismissed, status="false_positive", notes=None)
    kept = alerts.raise_alert(now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    assert [body["alerts"][0]["alert_id"] for body in bodies(receiver)] == [kept]
    service.close()


def test_messages_leave_out_evidence_by_default_and_addresses_when_asked(store, alerts, receiver, ca, clock):
    evidence = {"users": ["alice.smith"], "domain": "secret-project.example"}
    hook_channel(store, receiver, ca, name="default", min_severity="LOW")
    channel = repository.create_channel(store, ChannelIn(
        name="anonymous", settings=WebhookSettings(url=receiver.url("/anonymous"), ca_pem=ca.ca_pem),
        routing=Routing(min_severity="LOW"), content=Content(addresses=False)), "admin")
    assert channel.generated_secret
    alerts.raise_alert("CLEARTEXT_CREDENTIALS", "MEDIUM", source="10.1.2.3", evidence=evidence, now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    by_path = {delivery.path: delivery.body.decode() for delivery in receiver.deliveries}
    for body in by_path.values():
        assert "alice.smith" not in body and "secret-project" not in body
    assert "10.1.2.3" in by_path["/default"]
    assert "10.1.2.3" not in by_path["/anonymous"] and "10.0.9.9" not in by_path["/anonymous"]
    assert json.loads(by_path["/anonymous"])["title"].endswith("a host on the monitored network")
    service.close()


def test_evidence_goes_out_only_when_the_admin_chose_it(store, alerts, receiver, ca, clock):
    repository.create_channel(store, ChannelIn(
        name="soc", settings=WebhookSettings(url=receiver.url("/soc"), ca_pem=ca.ca_pem),
        routing=Routing(min_severity="LOW"), content=Content(evidence=True)), "admin")
    alerts.raise_alert("CLEARTEXT_CREDENTIALS", "MEDIUM", evidence={"users": ["alice.smith"]}, now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    assert bodies(receiver)[0]["alerts"][0]["evidence"] == {"users": ["alice.smith"]}
    service.close()


def test_slack_and_teams_get_their_own_formats(store, alerts, receiver, ca, clock):
    hook_channel(store, receiver, ca, name="slack", format="slack", min_severity="LOW")
    hook_channel(store, receiver, ca, name="teams", format="teams", min_severity="LOW")
    repository.save_settings(store, repository.load_settings(store).__class__(box_name="Office",
                                                                               box_url="https://box.example"))
    alert_id = alerts.raise_alert("C2_BEACON", "CRITICAL", now=clock.now)
    service = notifier(store, clock)
    service.run_once()
    by_path = {delivery.path: delivery.json() for delivery in receiver.deliveries}
    slack, teams = by_path["/slack"], by_path["/teams"]
    assert slack["text"].startswith("CRITICAL C2_BEACON")
    assert slack["blocks"][0]["type"] == "header"
    assert {"type": "button", "text": {"type": "plain_text", "text": "Open on the box"},
            "url": f"https://box.example/#/alerts/{alert_id}"} in slack["blocks"][-2]["elements"]
    card = teams["attachments"][0]
    assert teams["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    facts = {fact["title"]: fact["value"] for fact in card["content"]["body"][1]["facts"]}
    assert facts["Severity"] == "CRITICAL, score 0.91" and "distinct_ports = 48" in facts["Why"]
    assert card["content"]["actions"][0]["url"] == f"https://box.example/#/alerts/{alert_id}"
    service.close()


def test_nothing_older_than_the_notifier_is_sent_when_it_first_starts(store, alerts, receiver, ca, clock):
    """The cursor starts at the end of the chain (migration 0010); a channel added later gets no history."""
    alerts.raise_alert(now=clock.now)
    service = notifier(store, clock)
    service.run_once()  # no channel yet: the decision is routed to nobody
    hook_channel(store, receiver, ca, min_severity="LOW")
    service.run_once()
    assert receiver.deliveries == []
    service.close()
