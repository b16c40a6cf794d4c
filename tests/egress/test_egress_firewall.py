"""The box image's firewall opens exactly the configured destinations: the notifier writes the list, a root
helper loads it into the nft egress sets, and in a network namespace of the test's own only those connect."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.egress.firewall import FILE_NAME, FirewallStep, nft_script, read
from appliance.notifications import repository
from appliance.notifications.models import ChannelIn, EmailSettings, SyslogSettings, WebhookSettings
from appliance.siem import repository as exports
from appliance.siem.models import ExportDestinationIn

RULESET = Path(__file__).resolve().parents[2] / "images" / "firewall" / "netsenx.nft"


def appliance(*arguments: str, namespace: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "appliance", *arguments]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})


def configure(store) -> None:
    repository.create_channel(store, ChannelIn(name="mail", settings=EmailSettings(
        host="192.0.2.25", from_address="box@example.org", to=["soc@example.org"])), "admin")
    repository.create_channel(store, ChannelIn(name="syslog", settings=SyslogSettings(
        host="2001:db8::514", port=514, transport="udp")), "admin")
    repository.create_channel(store, ChannelIn(name="off", enabled=False, settings=WebhookSettings(
        url="https://198.51.100.7/hook")), "admin")
    exports.create(store, ExportDestinationIn(name="siem", host="192.0.2.60", port=6514), "admin")


def test_the_notifier_lists_exactly_the_enabled_destinations(store, tmp_path):
    configure(store)
    step = FirewallStep(store, tmp_path)
    step(0.0)
    listed = read(tmp_path / FILE_NAME)
    assert [(item.address, item.protocol, item.port) for item in listed.elements] == [
        ("192.0.2.25", "tcp", 587), ("192.0.2.60", "tcp", 6514), ("2001:db8::514", "udp", 514)]
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
    written = (tmp_path / FILE_NAME).stat().st_mtime_ns
    step(1.0)
    assert (tmp_path / FILE_NAME).stat().st_mtime_ns == written  # unchanged: not rewritten
    channel = next(item for item in repository.list_channels(store) if item.name == "off")
    repository.update_channel(store, channel.id, ChannelIn(name="off", settings=channel.settings))
    step(2.0)
    assert ("198.51.100.7", "tcp", 443) in [(item.address, item.protocol, item.port)
                                           for item in read(tmp_path / FILE_NAME).elements]


def test_the_root_helper_takes_addresses_protocols_and_ports_and_nothing_else(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"elements": [{"address": "192.0.2.25", "protocol": "tcp", "port": 587}]}))
    printed = appliance("firewall-egress", "--from", str(good))
    assert printed.returncode == 0 and printed.stdout == nft_script(read(good))
    combined = tmp_path / "combined.nft"
    combined.write_text(RULESET.read_text() + printed.stdout)
    assert subprocess.run(["nft", "-c", "-f", str(combined)], capture_output=True).returncode == 0
    for element in ({"address": "192.0.2.1 } ; flush ruleset ; add element inet netsenx egress_v4 { 1.1.1.1",
                     "protocol": "tcp", "port": 1},
                    {"address": "192.0.2.1", "protocol": "icmp", "port": 1},
                    {"address": "192.0.2.1", "protocol": "tcp", "port": 70000},
                    {"address": "192.0.2.1", "protocol": "tcp", "port": 1, "rule": "accept"}):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"elements": [element]}))
        refused = appliance("firewall-egress", "--from", str(bad), "--apply")
        assert refused.returncode == 1 and refused.stderr.startswith("appliance firewall-egress: error: refusing")
        assert len(refused.stderr.strip().splitlines()) == 1


def ns(namespace: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True, timeout=60,
                          check=check)


CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()"
LISTEN = ("import socket, threading\n"
          "def serve(port):\n"
          "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "    s.bind(('10.77.0.2', port)); s.listen()\n"
          "    while True: s.accept()[0].close()\n"
          "for port in (2525, 2526): threading.Thread(target=serve, args=(port,), daemon=True).start()\n"
          "threading.Event().wait()\n")


def wait_until(condition, what: str, attempts: int = 50) -> None:
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


@pytest.mark.netns
def test_in_a_namespace_only_the_listed_destination_connects(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("needs root to create network namespaces (the suite runs as root)")
    tag = secrets.token_hex(3)
    box, outside = f"egbox-{tag}", f"egout-{tag}"
    subprocess.run(["ip", "netns", "add", box], check=True)
    subprocess.run(["ip", "netns", "add", outside], check=True)
    listener = None
    try:
        subprocess.run(["ip", "-n", box, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns",
                        outside], check=True)
        for namespace, iface, address in ((box, "veth0", "10.77.0.1/24"), (outside, "veth1", "10.77.0.2/24")):
            subprocess.run(["ip", "-n", namespace, "addr", "add", address, "dev", iface], check=True)
            subprocess.run(["ip", "-n", namespace, "link", "set", iface, "up"], check=True)
            subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True)
        listener = subprocess.Popen(["ip", "netns", "exec", outside, sys.executable, "-c", LISTEN])
        # Before the firewall: both ports answer (so a refusal later is the firewall's doing).
        for port in ("2525", "2526"):
            wait_until(lambda port=port: ns(box, sys.executable, "-c", CONNECT, "10.77.0.2", port,
                                            check=False).returncode == 0, f"the listener on {port}")
        ns(box, "nft", "-f", str(RULESET))
        listed = tmp_path / FILE_NAME
        listed.write_text(json.dumps({"elements": [{"address": "10.77.0.2", "protocol": "tcp", "port": 2525}]}))
        applied = appliance("firewall-egress", "--from", str(listed), "--apply", namespace=box)
        assert applied.returncode == 0, applied.stderr
        assert ns(box, sys.executable, "-c", CONNECT, "10.77.0.2", "2525", check=False).returncode == 0
        assert ns(box, sys.executable, "-c", CONNECT, "10.77.0.2", "2526", check=False).returncode != 0
        listed.write_text(json.dumps({"elements": []}))
        assert appliance("firewall-egress", "--from", str(listed), "--apply", namespace=box).returncode == 0
        assert ns(box, sys.executable, "-c", CONNECT, "10.77.0.2", "2525", check=False).returncode != 0
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "netns", "del", box], check=False)
        subprocess.run(["ip", "netns", "del", outside], check=False)
