"""Imports from files in real formats into a real store: what is read, with which source, confidence, first and
last seen and expiry; what is refused; and a bad file changes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import stix2

from appliance.intel import repository
from appliance.intel.imports import ImportFailed, import_file
from tests.intel.feeds import FEODO_CSV, PLAIN_LIST, misp_event, stix_bundle, stix_indicator

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stored(store, source: str) -> dict[tuple[str, str], repository.StoredIndicator]:
    found, _ = repository.list_indicators(store, source_id=repository.get_source(store, source).id, limit=1000)
    return {(indicator.kind, indicator.value): indicator for indicator in found}


def test_stix_bundle_indicators_and_observables(store):
    bundle = stix_bundle(
        stix_indicator("[ipv4-addr:value = '198.51.100.23']", name="QakBot C2", confidence=85,
                       valid_until="2027-01-10T00:00:00Z"),
        stix_indicator("[domain-name:value = 'update-check.example'] AND [ipv4-addr:value = '104.16.5.5']"),
        stix_indicator("[url:value = 'http://dl.bad.example/a.exe']"),
        stix_indicator("[x-ja3:value = 'E7D705A3286E19EA42F587B344EE6865']"),
        stix_indicator("[file:hashes.'SHA-256' = "
                       "'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']"),
        stix_indicator("[email-addr:value = 'ceo@bad.example']"),  # a kind the box does not match: refused
        stix2.Indicator(pattern="rule x { condition: true }", pattern_type="yara", valid_from="2026-01-10T00:00:00Z"),
        observables=[stix2.IPv6Address(value="2001:db8::bad")],
    )
    result = import_file(store, "stix feed", bundle, NOW)
    assert result.source.format == "stix" and result.received == 7 and result.refused == 2
    assert any("yara" in problem for problem in result.problems)
    found = stored(store, "stix feed")
    assert set(found) == {("ip", "198.51.100.23"), ("domain", "update-check.example"), ("ip", "104.16.5.5"),
                          ("url", "dl.bad.example/a.exe"), ("ja3", "e7d705a3286e19ea42f587b344ee6865"),
                          ("file_sha256", "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"),
                          ("ip", "2001:db8::bad")}
    qakbot = found[("ip", "198.51.100.23")]
    assert qakbot.source == "stix feed" and qakbot.confidence == 85 and qakbot.description == "QakBot C2"
    assert qakbot.first_seen == epoch("2026-01-10T00:00:00Z") and qakbot.expires_at == epoch("2027-01-10T00:00:00Z")
    assert found[("ip", "104.16.5.5")].domain == "update-check.example"  # the name the feed gave the address
    assert found[("domain", "update-check.example")].confidence == 50  # none given: STIX's default
    assert found[("ip", "2001:db8::bad")].first_seen == NOW  # an observable carries no dates: when it arrived


def test_misp_event_takes_attributes_marked_for_detection(store):
    event = misp_event(
        [{"type": "ip-dst", "value": "203.0.113.80", "to_ids": True, "first_seen": "2026-02-01T10:00:00.000000+00:00"},
         {"type": "domain", "value": "login-0ffice.example", "to_ids": True},
         {"type": "url", "value": "https://login-0ffice.example/owa/", "to_ids": True},
         {"type": "ip-src", "value": "192.0.2.10", "to_ids": False},  # context, not for detection
         {"type": "email-src", "value": "hr@login-0ffice.example", "to_ids": True},  # a kind the box cannot see
         {"type": "ip-dst", "value": "999.1.1.1", "to_ids": True}],
        objects=[[{"type": "domain", "value": "cdn-front.example", "to_ids": True},
                  {"type": "ip-dst", "value": "151.101.1.1", "to_ids": True}]],
        threat_level="1",
    )
    result = import_file(store, "misp", event, NOW)
    assert result.source.format == "misp" and result.refused == 1 and "999.1.1.1" in result.problems[0]
    found = stored(store, "misp")
    assert set(found) == {("ip", "203.0.113.80"), ("domain", "login-0ffice.example"),
                          ("url", "login-0ffice.example/owa/"), ("domain", "cdn-front.example"),
                          ("ip", "151.101.1.1")}
    address = found[("ip", "203.0.113.80")]
    assert address.confidence == 90 and address.description == "Phishing campaign"  # threat level 1: high
    assert address.first_seen == epoch("2026-02-01T10:00:00Z") and address.last_seen == 1767225600.0
    assert found[("ip", "151.101.1.1")].domain == "cdn-front.example"  # same MISP object


def test_csv_with_abuse_ch_header_and_one_per_line_list(store):
    result = import_file(store, "feodo", FEODO_CSV, NOW, expiry_days=30)
    assert (result.received, result.refused) == (2, 1)
    feodo = stored(store, "feodo")
    qakbot = feodo[("ip", "198.51.100.23")]
    assert qakbot.description == "QakBot" and qakbot.first_seen == epoch("2025-09-17T07:44:46Z")
    assert qakbot.last_seen == epoch("2026-11-30T00:00:00Z")
    assert qakbot.expires_at == qakbot.last_seen + 30 * 86400  # no expiry of its own: the import's

    result = import_file(store, "plain", PLAIN_LIST, NOW, default_confidence=70)
    assert result.refused == 1 and "this is not an indicator" in result.problems[0]
    plain = stored(store, "plain")
    assert set(plain) == {("ip", "192.0.2.66"), ("ip", "2001:db8::66"), ("cidr", "198.18.0.0/15"),
                          ("domain", "bad.example"), ("url", "files.bad.example:8080/payload.bin?id=7"),
                          ("ja3", "e7d705a3286e19ea42f587b344ee6865")}
    assert {indicator.confidence for indicator in plain.values()} == {70}


def test_a_new_import_of_the_same_name_replaces_its_list(store):
    import_file(store, "plain", b"192.0.2.1\n192.0.2.2\n", NOW)
    result = import_file(store, "plain", b"192.0.2.2\n192.0.2.3\n", NOW + 60)
    assert result.added == 1
    assert set(stored(store, "plain")) == {("ip", "192.0.2.2"), ("ip", "192.0.2.3")}
    assert stored(store, "plain")[("ip", "192.0.2.2")].first_seen == NOW  # still the first time it was listed


GOOD = {"list": b"192.0.2.1\n", "stix": stix_bundle(stix_indicator("[ipv4-addr:value = '192.0.2.1']")),
        "misp": misp_event([{"type": "ip-dst", "value": "192.0.2.1", "to_ids": True}])}


@pytest.mark.parametrize(("format", "data", "says"), [
    ("list", b"<html><body>502 Bad Gateway</body></html>", "not a plain list or CSV"),
    ("list", b"\xff\xfe\x00garbage", "not a UTF-8 text list"),
    ("list", b"nothing here\nat all\n", "no indicator found in this list data (2 entries refused"),
    ("stix", b'{"type": "bundle", "objects": [', "not JSON"),
    ("stix", b'{"type": "report"}', "not a STIX 2.1 bundle"),
    ("stix", stix_bundle(stix_indicator("[email-addr:value = 'a@b.example']")), "no indicator found"),
    ("misp", b'{"response": [{"Attribute": []}]}', "not a MISP event export"),
], ids=["html-page", "not-utf8", "no-indicator-list", "truncated-json", "not-a-bundle", "stix-without-indicator",
        "not-misp"])  # named: the STIX bundle carries fresh ids, and xdist workers must collect the same test names
def test_a_bad_file_is_refused_and_nothing_stored_is_lost(store, format, data, says):
    import_file(store, "feed", GOOD[format], NOW)
    with pytest.raises(ImportFailed, match=re.escape(says)):
        import_file(store, "feed", data, NOW + 60)
    assert set(stored(store, "feed")) == {("ip", "192.0.2.1")}
    source = repository.get_source(store, "feed")
    assert source.last_result == "error" and says in source.last_error and source.last_success_at == NOW


def test_a_file_in_another_format_than_its_source_is_refused(store):
    import_file(store, "feed", GOOD["list"], NOW)
    with pytest.raises(ImportFailed, match="'feed' was imported as list; import stix under another name"):
        import_file(store, "feed", GOOD["stix"], NOW, "stix")
