"""Feeds on a schedule, fetched by the notifier's step from real servers on loopback: a CSV list over HTTPS and a
TAXII 2.1 collection (medallion), each with its last result; what a fetch sends; the firewall opens a feed only
while it is configured and enabled."""

from __future__ import annotations

import base64
import json
import time

import pytest
from taxii2client.v21 import Collection

from appliance.egress.destinations import egress
from appliance.egress.firewall import FILE_NAME, FirewallStep, read
from appliance.intel import repository
from appliance.intel.feeds import FeedStep
from appliance.intel.repository import SourceIn
from tests.intel.feeds import FEODO_CSV, stix_indicator
from tests.intel.servers import COLLECTION_ID, TAXII_PASSWORD, TAXII_USER, https_list_server, private_ca, taxii_server

HOUR = 3600.0


@pytest.fixture
def tls(tmp_path):
    return private_ca(tmp_path)


def add_feed(store, now: float, **fields) -> repository.Source:
    return repository.create_source(store, SourceIn(interval_seconds=HOUR, expiry_days=30, **fields), now)


def stored_values(store, source: repository.Source) -> set[str]:
    found, _ = repository.list_indicators(store, source_id=source.id, limit=1000)
    return {indicator.value for indicator in found}


def test_an_https_list_is_fetched_when_due_and_a_failure_keeps_what_it_had(store, tls, tmp_path):
    step = FeedStep(store)
    with https_list_server(tls) as server:
        server.body = FEODO_CSV
        feed = add_feed(store, 0.0, name="feodo", kind="https_list", url=f"{server.url}/downloads/ipblocklist.csv",
                        ca_cert=tls.ca_pem, username="box", secret="s3cret")
        assert step(1000.0) == 1
        assert stored_values(store, feed) == {"198.51.100.23", "203.0.113.80"}
        source = repository.get_source(store, feed.id)
        assert (source.last_result, source.last_success_at, source.last_refused) == ("ok", 1000.0, 1)
        # exactly what the egress page says leaves the box: the request line and these headers, nothing of the site
        [(line, headers)] = server.requests
        assert line == "GET /downloads/ipblocklist.csv HTTP/1.1"
        assert headers["User-Agent"] == "netsenx-threat-intel"
        assert headers["Authorization"] == "Basic " + base64.b64encode(b"box:s3cret").decode()
        assert set(headers) <= {"Host", "Accept", "Accept-Encoding", "Connection", "User-Agent", "Authorization"}

        assert step(1000.0 + HOUR - 1) == 0 and len(server.requests) == 1  # not due yet
        server.status, server.body = 500, b"<html>oops</html>"
        assert step(1000.0 + HOUR) == 0
        source = repository.get_source(store, feed.id)
        assert source.last_result == "error" and "500" in source.last_error and source.last_success_at == 1000.0
        assert stored_values(store, feed) == {"198.51.100.23", "203.0.113.80"}
        shown = next(row for row in egress(store, 0.0).destinations if row.id == feed.id)
        assert shown.last_result.startswith("failed at ") and "500" in shown.last_result

        server.status, server.body = 200, b"198.51.100.23\n"  # the list dropped an entry: so does the box
        repository.fetch_soon(store, feed.id)
        assert step(1000.0 + HOUR + 5) == 1
        assert stored_values(store, feed) == {"198.51.100.23"}
        shown = next(row for row in egress(store, 0.0).destinations if row.id == feed.id)
        assert shown.last_result.startswith("fetched at ") and shown.last_result.endswith(": 1 indicators")

        untrusted = add_feed(store, 0.0, name="no private CA", kind="https_list", url=f"{server.url}/list.csv")
        repository.set_enabled(store, feed.id, False, 0.0)
        assert step(2 * HOUR) == 0
        assert "CERTIFICATE_VERIFY_FAILED" in repository.get_source(store, untrusted.id).last_error


def test_a_taxii_collection_is_fetched_and_then_only_what_was_added_since(store, tls, tmp_path):
    with taxii_server(tls, tmp_path) as api_root:
        ca_file = tmp_path / "ca.pem"
        ca_file.write_text(tls.ca_pem)
        publisher = Collection(f"{api_root}collections/{COLLECTION_ID}/", user=TAXII_USER, password=TAXII_PASSWORD,
                               verify=str(ca_file))
        publisher._conn.session.trust_env = False  # else requests takes REQUESTS_CA_BUNDLE over `verify`
        first = [stix_indicator("[ipv4-addr:value = '198.51.100.23']", confidence=80),
                 stix_indicator("[domain-name:value = 'c2.bad.example']", valid_until="2027-06-01T00:00:00Z")]
        publisher.add_objects(json.dumps({"objects": [json.loads(item.serialize()) for item in first]}))
        feed = add_feed(store, 0.0, name="partner TAXII", kind="taxii", format="stix", url=api_root,
                        collection=COLLECTION_ID, ca_cert=tls.ca_pem, username=TAXII_USER, secret=TAXII_PASSWORD)
        now = time.time()
        assert FeedStep(store)(now) == 1
        assert stored_values(store, feed) == {"198.51.100.23", "c2.bad.example"}
        source = repository.get_source(store, feed.id)
        assert source.last_result == "ok" and source.indicator_count == 2

        later = stix_indicator("[url:value = 'http://dl.bad.example/a.exe']")
        publisher.add_objects(json.dumps({"objects": [json.loads(later.serialize())]}))
        repository.fetch_soon(store, feed.id)
        assert FeedStep(store)(now + 10) == 1
        # a TAXII feed is not a snapshot: what the collection added since is added, the rest stays
        assert stored_values(store, feed) == {"198.51.100.23", "c2.bad.example", "dl.bad.example/a.exe"}

        wrong = add_feed(store, 0.0, name="wrong password", kind="taxii", format="stix", url=api_root,
                         collection=COLLECTION_ID, ca_cert=tls.ca_pem, username=TAXII_USER, secret="nope")
        repository.set_enabled(store, feed.id, False, now)
        assert FeedStep(store)(now + 20) == 0
        failed = repository.get_source(store, wrong.id)
        assert failed.last_result == "error" and "401" in failed.last_error


def test_the_firewall_opens_a_feed_only_while_it_is_configured_and_enabled(store, tmp_path):
    step = FirewallStep(store, tmp_path)
    step(0.0)
    assert read(tmp_path / FILE_NAME).elements == []
    feed = add_feed(store, 0.0, name="feodo", kind="https_list", url="https://192.0.2.80:8443/ipblocklist.csv")
    repository.create_source(store, SourceIn(name="air-gapped import"), 0.0)  # a file: nothing to open
    step(1.0)
    assert [(item.address, item.protocol, item.port) for item in read(tmp_path / FILE_NAME).elements] == [
        ("192.0.2.80", "tcp", 8443)]
    repository.set_enabled(store, feed.id, False, 2.0)
    step(2.0)
    assert read(tmp_path / FILE_NAME).elements == []
