"""`appliance notify` as the real service process, killed (SIGKILL) in the middle of a delivery.

Nothing may be lost, and nothing sent twice beyond what the channel allows: the one message in flight when the
process died is sent again after the restart, with the same id (the webhook-id / the e-mail Message-ID), so the
receiver can tell it is a repeat; every other message arrives exactly once.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from appliance.notifications import repository
from appliance.notifications.models import ChannelIn, EmailSettings, Routing, WebhookSettings
from tests.notifications.receivers import SMTP_PASSWORD, SMTP_USER, smtp_server

ALERTS = 4


def start_notifier(data_dir, log_path) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": os.getcwd()}
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "appliance", "notify", "--data-dir", str(data_dir.root),
                                 "--poll-interval", "0.2"], stdout=log, stderr=subprocess.STDOUT, env=environment)


def wait_for(condition, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def raise_alerts(alerts) -> list[str]:
    return [alerts.raise_alert(severity="HIGH") for _ in range(ALERTS)]


def sent(store) -> int:
    return store.query_one("SELECT count(*) AS n FROM notification_outbox WHERE status = 'sent'")["n"]


def kill_mid_delivery_then_restart(store, data_dir, log, in_flight: threading.Event, let_go: threading.Event) -> None:
    """Kill the notifier once a delivery is in flight (the receiver holds its answer), let the receiver answer
    the dead process, start a new notifier and wait until every message is recorded as sent."""
    first = start_notifier(data_dir, log)
    try:
        wait_for(in_flight.is_set, "the first delivery to reach the receiver")
    finally:
        kill(first)
    let_go.set()
    assert sent(store) == 0
    second = start_notifier(data_dir, log)
    try:
        wait_for(lambda: sent(store) == ALERTS, "every message to be sent")
    finally:
        stop(second)


def test_killed_mid_webhook_delivery_loses_nothing_and_repeats_only_the_message_in_flight(
        store, data_dir, alerts, receiver, ca, tmp_path):
    channel = repository.create_channel(store, ChannelIn(
        name="hook", settings=WebhookSettings(url=receiver.url(), ca_pem=ca.ca_pem),
        routing=Routing(min_severity="LOW")), "admin")
    receiver.secret = channel.generated_secret
    receiver.answers = ["hang"]  # the first request never gets its answer while the first process lives
    raised = raise_alerts(alerts)
    kill_mid_delivery_then_restart(store, data_dir, tmp_path / "notifier.log", receiver.arrived, receiver.release)
    assert all(delivery.verified for delivery in receiver.deliveries)
    per_id = Counter(delivery.headers["webhook-id"] for delivery in receiver.deliveries)
    assert sorted(per_id.values()) == [1] * (ALERTS - 1) + [2]
    repeated = receiver.deliveries[0].headers["webhook-id"]
    assert per_id[repeated] == 2
    delivered = {delivery.json()["alerts"][0]["alert_id"] for delivery in receiver.deliveries}
    assert delivered == set(raised)


def test_killed_mid_smtp_transaction_the_mail_comes_again_with_the_same_message_id(
        store, data_dir, alerts, ca, tmp_path):
    with smtp_server(ca, implicit_tls=True) as (port, mailbox):
        mailbox.hold = threading.Event()  # the first mail's "250 OK" is held back
        repository.create_channel(store, ChannelIn(
            name="mail", settings=EmailSettings(host="127.0.0.1", port=port, security="tls", username=SMTP_USER,
                                                password=SMTP_PASSWORD, from_address="box@example.org",
                                                to=["soc@example.org"], ca_pem=ca.ca_pem),
            routing=Routing(min_severity="LOW")), "admin")
        raise_alerts(alerts)
        kill_mid_delivery_then_restart(store, data_dir, tmp_path / "notifier.log", mailbox.arrived, mailbox.hold)
    ids = Counter(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]
                  for _, _, raw, _ in mailbox.received)
    assert len(ids) == ALERTS and sorted(ids.values()) == [1] * (ALERTS - 1) + [2]


def test_a_second_notifier_for_the_same_box_refuses_to_start(store, data_dir, tmp_path):
    first = start_notifier(data_dir, tmp_path / "first.log")
    try:
        wait_for(lambda: "notifier running" in (tmp_path / "first.log").read_text(),
                 "the first notifier to hold its lock")
        second = subprocess.run([sys.executable, "-m", "appliance", "notify", "--data-dir", str(data_dir.root),
                                 "--once"], capture_output=True, text=True, env={**os.environ,
                                                                                 "PYTHONPATH": os.getcwd()})
    finally:
        stop(first)
    assert second.returncode == 1
    assert "another notifier is running" in second.stderr
