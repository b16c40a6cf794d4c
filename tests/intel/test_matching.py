"""What the engine's indicator set matches, compiled from a real store: expiry in packet time, shared
infrastructure never alone, the shipped top sites and the site's allowlist over every feed."""

from __future__ import annotations

import datetime as dt

from appliance.engine.network import SiteConfig
from appliance.intel import compiled, repository
from appliance.intel.imports import import_file
from appliance.intel.search import search
from tests.intel.feeds import stix_bundle, stix_indicator

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
DAY = 86400.0


def indicator_set(store):
    return compiled.load(store, SiteConfig())


def test_an_indicator_stops_matching_at_its_expiry_in_packet_time(store):
    bundle = stix_bundle(
        stix_indicator("[ipv4-addr:value = '198.51.100.7']", valid_until="2026-12-02T00:00:00Z"),
        stix_indicator("[domain-name:value = 'old.bad.example']", valid_until="2026-12-02T00:00:00Z"),
    )
    import_file(store, "stix", bundle, NOW)
    import_file(store, "list", b"203.0.113.9\n", NOW, expiry_days=10)  # expiry from the source: last seen + 10 days
    intel = indicator_set(store)
    assert intel.address("198.51.100.7", NOW).listing.expires_at == NOW + DAY
    assert intel.address("198.51.100.7", NOW + DAY) is None
    assert intel.name("www.old.bad.example", NOW + DAY - 1).indicator == "old.bad.example"
    assert intel.name("www.old.bad.example", NOW + DAY + 1) is None
    assert intel.address("203.0.113.9", NOW + 9 * DAY) is not None
    assert intel.address("203.0.113.9", NOW + 10 * DAY) is None


def test_a_cdn_or_shared_hosting_address_never_matches_alone(store):
    import_file(store, "list", b"104.16.132.229\n151.101.0.0/22\n151.100.0.0/15\n2606:4700::6810:84e5\n198.51.100.7\n",
                NOW)
    import_file(store, "misp", b"""{"Event": {"info": "x", "threat_level_id": "2", "Attribute": [
        {"type": "domain|ip", "value": "payload.bad.example|104.18.20.1", "to_ids": true, "timestamp": "1767225600"}
    ]}}""", NOW)
    intel = indicator_set(store)
    assert intel.address("104.16.132.229", NOW) is None  # Cloudflare, no domain given
    assert intel.address("151.101.1.5", NOW) is None  # a Fastly network
    assert intel.address("151.100.0.1", NOW) is None  # a network holding a whole Fastly range
    assert intel.address("2606:4700::6810:84e5", NOW) is None
    assert intel.address("104.18.20.1", NOW) is None  # Cloudflare with a domain: the domain matches instead
    hit = intel.name("payload.bad.example", NOW)
    assert hit.indicator == "payload.bad.example" and hit.listing.source == "misp"
    assert intel.address("198.51.100.7", NOW).indicator == "198.51.100.7"
    assert intel.held_back["shared_infrastructure"] == 5

    found = search(store, "104.16.132.229")
    assert [row.source for row in found.found] == ["list"]
    assert not found.matches and found.overruled_by == "shared_infrastructure"
    assert "Cloudflare" in found.overruled_detail


def test_top_sites_and_the_site_allowlist_overrule_every_feed(store):
    import_file(store, "list", b"\n".join([
        b"login.microsoftonline.com", b"http://www.google.com/search?q=x", b"partner.example", b"bad.example",
        b"198.51.100.0/24", b"203.0.113.5", b"203.0.113.6",
    ]), NOW)
    repository.allow(store, "partner.example", "our supplier", "admin", NOW)
    repository.allow(store, "198.51.100.20", "our mail relay", "admin", NOW)
    repository.allow(store, "203.0.113.5", "", "admin", NOW)
    repository.allow(store, "intranet.bad.example", "", "admin", NOW)
    intel = indicator_set(store)
    assert intel.name("login.microsoftonline.com", NOW) is None  # a top site
    assert intel.url("www.google.com", "/search?q=x", NOW) is None
    assert intel.name("www.partner.example", NOW) is None  # the allowlist, with subdomains
    assert intel.address("203.0.113.5", NOW) is None
    assert intel.address("203.0.113.6", NOW) is not None
    assert intel.address("198.51.100.20", NOW) is None  # allowed inside a listed network
    assert intel.address("198.51.100.21", NOW).indicator == "198.51.100.0/24"
    assert intel.name("intranet.bad.example", NOW) is None  # allowed under a listed domain
    assert intel.name("c2.bad.example", NOW).indicator == "bad.example"
    assert search(store, "www.partner.example").overruled_by == "allowlist"
    assert search(store, "login.microsoftonline.com").overruled_by == "top_site"

    repository.disallow(store, "partner.example")
    assert indicator_set(store).name("www.partner.example", NOW).indicator == "partner.example"


def test_a_disabled_source_does_not_match_and_the_engine_sees_every_change(store):
    before = repository.generation(store)
    result = import_file(store, "list", b"198.51.100.7\n", NOW)
    assert repository.generation(store) > before
    repository.set_enabled(store, result.source.id, False, NOW)
    assert indicator_set(store).address("198.51.100.7", NOW) is None
    assert search(store, "198.51.100.7").matches is False
    repository.set_enabled(store, result.source.id, True, NOW)
    hit = indicator_set(store).address("198.51.100.7", NOW)
    assert hit.listing.source == "list" and search(store, "198.51.100.7").matches


def test_the_most_confident_listing_names_the_hit(store):
    import_file(store, "weak", b"198.51.100.7\n", NOW, default_confidence=20)
    import_file(store, "strong", b"198.51.100.7\n", NOW, default_confidence=90)
    hit = indicator_set(store).address("198.51.100.7", NOW)
    assert (hit.listing.source, hit.listing.confidence) == ("strong", 90)
    assert {row.source for row in search(store, "198.51.100.7").found} == {"weak", "strong"}


def test_certificate_hashes_match_and_file_hashes_are_only_searchable(store):
    import_file(store, "sslbl", b"3A0B3B23152C445C27AC6A0C41D6FA74AFB4095B\n", NOW)  # SSLBL: certificate SHA-1s
    import_file(store, "malware hashes", b"aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f\n"
                b"3a0b3b23152c445c27ac6a0c41d6fa74afb4095c\n", NOW, tls_hashes=False)
    intel = indicator_set(store)
    hit = intel.fingerprint("cert_sha1", "3a0b3b23152c445c27ac6a0c41d6fa74afb4095b", NOW)
    assert hit.kind == "cert_sha1" and hit.listing.source == "sslbl"
    assert intel.fingerprint("cert_sha1", "3a0b3b23152c445c27ac6a0c41d6fa74afb4095c", NOW) is None  # a file's SHA-1
    assert intel.held_back["not_seen_by_the_sensor"] == 2
    assert search(store, "3a0b3b23152c445c27ac6a0c41d6fa74afb4095b").matches
    file_hash = search(store, "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f")
    assert [row.kind for row in file_hash.found] == ["file_sha256"] and not file_hash.matches
