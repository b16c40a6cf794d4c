"""Every public capture raises exactly what the manifest expects, and the benign ones raise nothing."""

from __future__ import annotations

import pytest

from tests.conftest import PCAPS

EXPECTED = {
    "dns-tunnel-txt.pcap": {("DNS_TUNNELING", "10.30.28.90")},
    # The manifest names 10.0.0.3, but that is the PLC answering on port 502: the write requests come
    # from 10.0.0.9 (10.0.0.9:3082 -> 10.0.0.3:502), so the unauthorised writer is 10.0.0.9.
    "modbus.pcap": {("OT_UNAUTHORIZED_WRITE", "10.0.0.9")},
    "dnp3-write.pcap": {("OT_UNAUTHORIZED_WRITE", "130.126.142.250")},
    "arp-scan.pcap": {("NETWORK_SWEEP", "192.168.1.247")},
    "icmp-portscan.pcap": {("NETWORK_SWEEP", "192.168.1.109")},
    "dhcp-request-flood.pcap": {("ROGUE_DHCP", "0.0.0.0")},
    "kerberoast.pcap": {("KERBEROASTING", "10.0.0.2")},
    "ftp-cleartext-login.pcap": {("CLEARTEXT_CREDENTIALS", "172.23.0.3")},
    "arp-single.pcap": set(),
    "tls-handshake.pcap": set(),
    "quic.pcap": set(),
    "rdp-session.pcap": set(),
    "smb1-session.pcap": set(),
    "http-post-file.pcap": set(),
    "icmp-and-ssh.pcap": set(),
}


@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_capture_raises_its_expected_alerts_only(capture, analyse, store):
    analyse(PCAPS / capture)
    alerts = store.query("SELECT rule_name, source_ip, score, shap_json, trace_id FROM alerts")
    assert {(a["rule_name"], a["source_ip"]) for a in alerts} == EXPECTED[capture]
    # One incident, one alert: however many packets the attack took.
    assert len(alerts) == len(EXPECTED[capture])
    for alert in alerts:
        assert 0.0 <= alert["score"] <= 1.0 and alert["trace_id"]
        assert '"base_value"' in alert["shap_json"] and '"model_version"' in alert["shap_json"]


def test_every_capture_in_the_manifest_is_covered():
    assert {path.name for path in PCAPS.glob("*.pcap")} == set(EXPECTED)
