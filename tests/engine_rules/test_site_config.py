"""SiteConfig: internal networks, indicator files, business hours and the AI-service list, with clear errors."""

from __future__ import annotations

import re

import msgspec
import pytest

from appliance.engine.network import BusinessHours, SiteConfig, ThreatIntel, load_threat_intel


def test_internal_networks_default_to_private_ranges():
    site = SiteConfig()
    for ip in ("10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.7.7", "fd12::1"):
        assert site.is_internal(ip), ip
    for ip in ("172.32.0.1", "8.8.8.8", "2001:db8::1", "", "not-an-ip", "999.1.1.1"):
        assert not site.is_internal(ip), ip


def test_custom_internal_networks_and_memo_stay_right():
    site = SiteConfig(internal_networks=["203.0.113.0/25", "2001:db8:1::/48"], max_tracked_keys=2)
    answers = [
        site.is_internal(ip) for ip in ("203.0.113.5", "203.0.113.200", "10.0.0.1", "2001:db8:1::9") * 3
    ]
    assert answers == [True, False, False, True] * 3


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match=re.escape("not an IP address or CIDR: '10.0.0.0/33'")):
        SiteConfig(internal_networks=["10.0.0.0/33"])
    with pytest.raises(ValueError, match="not an IP address: 'gateway'"):
        SiteConfig(gateway_ips=["gateway"])
    with pytest.raises(ValueError, match="unknown time zone: 'Mars/Olympus'"):
        BusinessHours(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="not a JA3 hash"):
        ThreatIntel(ja3=["xyz"])
    with pytest.raises(msgspec.ValidationError, match="learning_period_s"):
        msgspec.json.decode(b'{"learning_period_s": -1}', type=SiteConfig)


def test_site_config_round_trips_as_json():
    site = SiteConfig(known_dhcp_servers=["10.0.0.1"], allowed_ot_writers=["10.0.5.0/24"])
    again = msgspec.json.decode(msgspec.json.encode(site), type=SiteConfig)
    assert again == site and again.is_internal("10.0.0.1") and "10.0.5.9" in again.ot_writers


def test_indicator_file_recognises_each_line(tmp_path):
    path = tmp_path / "feed.txt"
    path.write_text(
        "# exported 2026-03-01\n198.51.100.7\n203.0.113.0/24  # a /24\nEvil.Example.\n"
        "E7D705A3286E19EA42F587B344EE6865\n\n2001:db8::/32\n"
    )
    intel = load_threat_intel(path)
    assert intel.source == "feed.txt"
    assert intel.ips == ["198.51.100.7", "203.0.113.0/24", "2001:db8::/32"]
    assert intel.domains == ["evil.example"] and intel.ja3 == ["e7d705a3286e19ea42f587b344ee6865"]
    assert "203.0.113.99" in intel.ip_set and "2001:db8:ff::1" in intel.ip_set
    assert intel.domain_set.match("a.b.evil.example") == "evil.example"
    assert intel.domain_set.match("notevil.example") is None


def test_indicator_file_errors_name_the_line(tmp_path):
    path = tmp_path / "feed.txt"
    path.write_text("198.51.100.7\nthis is not an indicator\n")
    with pytest.raises(ValueError, match=r"feed.txt:2: not an IP, CIDR, domain or JA3 hash"):
        load_threat_intel(path)
    with pytest.raises(ValueError, match="cannot read indicator file"):
        load_threat_intel(tmp_path / "missing.txt")


def test_business_hours_in_site_time():
    hours = BusinessHours(start_hour=8, end_hour=18, timezone="Europe/Berlin")
    monday_0730_utc = 1_772_436_600.0  # 2026-03-02 07:30 UTC = 08:30 in Berlin
    assert hours.contains(monday_0730_utc)
    assert not BusinessHours().contains(monday_0730_utc)
    assert not hours.contains(monday_0730_utc + 5 * 86400)  # Saturday


def test_default_ai_service_list_ships_with_the_product():
    site = SiteConfig()
    assert site.ai_domains.match("chat.openai.com") == "openai.com"
    assert site.ai_domains.match("claude.ai") == "claude.ai"
    assert site.ai_domains.match("example.com") is None
