"""Retro-hunt: real captures replayed through the box's sensor and engine into a real store's flow log, THEN the
indicators imported; the engine finds the past contacts, raises them marked as found later, holds back what an
overrule holds back, and never raises a contact twice."""

from __future__ import annotations

import json
import time

import pytest

from appliance.engine import process
from appliance.engine.process import Engine
from appliance.intel import repository, retro_hunt
from appliance.intel.imports import import_file
from tests.conftest import PCAPS
from tests.intel.feeds import stix_bundle, stix_indicator
from tests.intel.test_replayed_captures import CLIENT, WIKIPEDIA, intel_alerts

BITS = "208.80.152.118"  # a server the client of wikipedia.pcap fetched from


def hunts(store, name: str) -> list[retro_hunt.Hunt]:
    return retro_hunt.hunts_of(store, repository.get_source(store, name).id)


def test_an_indicator_imported_after_the_traffic_is_found_later(store, analyse):
    engine = analyse(WIKIPEDIA)
    assert intel_alerts(store) == {}
    before = time.time()
    import_file(store, "late feed", stix_bundle(
        stix_indicator(f"[ipv4-addr:value = '{BITS}']", name="bits C2", confidence=80),
        stix_indicator("[domain-name:value = 'ncsa.uiuc.edu']"),  # the client's resolver appended its search domain
        stix_indicator("[url:value = 'http://upload.wikimedia.org/wikipedia/commons/6/63/Wikipedia-logo.png']"),
    ), time.time())
    engine.process_all()

    alerts = intel_alerts(store)
    assert set(alerts) == {(CLIENT, BITS), (CLIENT, "ncsa.uiuc.edu")}  # the URL's host is a top site's: overruled
    assert alerts[(CLIENT, "ncsa.uiuc.edu")]["seen_as"] == "dns query"
    assert alerts[(CLIENT, "ncsa.uiuc.edu")]["found_by"] == "retro-hunt"
    evidence = alerts[(CLIENT, BITS)]
    assert evidence["found_by"] == "retro-hunt" and evidence["found_later_at"] >= before
    assert evidence["feed"] == "late feed" and evidence["confidence"] == 80 and evidence["seen_as"] == "flow"
    alert = store.query_one("SELECT first_seen, trace_id FROM alerts WHERE dest_ip = ?", (BITS,))
    assert 1300475000 < alert["first_seen"] < 1300476000  # the contact's packet time, 2011-03-18 19:06
    trace = json.loads(store.query_one("SELECT content FROM decision_traces WHERE id = ?",
                                       (alert["trace_id"],))["content"])
    assert trace["outcome"] == "alert_raised" and trace["batch"] is None
    [hunt] = hunts(store, "late feed")
    assert hunt.state == "done" and hunt.found == 2 and hunt.indicators == 3 and hunt.finished_at


def test_an_engine_started_after_the_import_hunts_too(store, analyse, scorer):
    analyse(WIKIPEDIA)
    import_file(store, "late feed", f"{BITS}\n".encode(), time.time())
    Engine(store, scorer).process_all()
    assert set(intel_alerts(store)) == {(CLIENT, BITS)}


def test_overruled_indicators_are_not_found_later(store, analyse):
    engine = analyse(WIKIPEDIA)
    repository.allow(store, "208.80.152.3", "the site's own mirror", "admin", time.time())
    import_file(store, "late feed", stix_bundle(
        stix_indicator("[ipv4-addr:value = '208.80.152.3']"),  # the allowlist overrules it
        # its validity ended before the capture was taken
        stix_indicator("[ipv4-addr:value = '208.80.152.2']", valid_from="2011-01-01T00:00:00Z",
                       valid_until="2011-03-01T00:00:00Z"),
        stix_indicator("[domain-name:value = 'en.wikipedia.org']"),  # a top site
    ), time.time())
    engine.process_all()
    assert intel_alerts(store) == {}
    [hunt] = hunts(store, "late feed")
    assert hunt.state == "done" and hunt.found == 0


def test_a_reimport_or_another_feed_with_the_same_indicator_raises_nothing_twice(store, analyse):
    engine = analyse(WIKIPEDIA)
    import_file(store, "late feed", f"{BITS}\n".encode(), time.time())
    engine.process_all()
    import_file(store, "late feed", f"{BITS}\n".encode(), time.time())  # the same list again: nothing new
    import_file(store, "second feed", f"{BITS}\n".encode(), time.time())  # new to this feed, not to the box
    engine.process_all()
    assert store.query_one("SELECT count(*) AS n FROM alerts WHERE rule_name = 'THREAT_INTEL_MATCH'")["n"] == 1
    assert len(hunts(store, "late feed")) == 1
    [second] = hunts(store, "second feed")
    assert second.state == "done" and second.found == 0 and second.already_alerted == 1


def test_what_the_live_path_alerted_on_is_not_raised_again(store, analyse):
    import_file(store, "first feed", f"{BITS}\n".encode(), time.time())
    engine = analyse(WIKIPEDIA)
    [live] = intel_alerts(store).values()
    assert "found_by" not in live
    import_file(store, "second feed", f"{BITS}\n208.80.152.2\n".encode(), time.time())
    engine.process_all()
    alerts = intel_alerts(store)
    assert set(alerts) == {(CLIENT, BITS), (CLIENT, "208.80.152.2")}
    assert "found_by" not in alerts[(CLIENT, BITS)] and alerts[(CLIENT, "208.80.152.2")]["found_by"] == "retro-hunt"


def test_records_after_the_import_are_the_live_paths(store, analyse):
    """The hunt searches the log up to where the engine took the indicators; traffic after is matched live."""
    engine = analyse(PCAPS / "icmp-and-ssh.pcap")
    import_file(store, "late feed", f"{BITS}\n".encode(), time.time())
    engine.process_pending()  # takes the indicators: the horizon is the log so far, where BITS never appears
    [hunt] = hunts(store, "late feed")
    assert hunt.state == "done" and hunt.found == 0
    analyse(WIKIPEDIA)
    [alert] = intel_alerts(store).values()
    assert "found_by" not in alert


@pytest.fixture
def small_steps(monkeypatch):
    """Walk the log a few records at a time, one step per round of the engine: a contact spans steps, and stays
    one alert."""
    monkeypatch.setattr(process, "RETRO_HUNT_SECONDS", 0.0)
    monkeypatch.setattr(retro_hunt, "RECORDS_PER_STEP", 5)
    monkeypatch.setattr(retro_hunt, "INDICATORS_PER_STEP", 1)


def test_networks_and_fingerprints_by_walking_the_log(store, analyse, small_steps):
    engine = analyse(WIKIPEDIA, PCAPS / "tls-handshake.pcap")
    flows = store.query_one("SELECT count(*) AS n FROM flow_log")["n"]
    assert flows > 3 * retro_hunt.RECORDS_PER_STEP
    import_file(store, "late feed", b"208.80.152.0/24\n308b0bd904abbef5e0034a1ff7a78920\n198.51.100.7\n"
                b"3a0b3b23152c445c27ac6a0c41d6fa74afb4095b\n", time.time())  # a network, a JA3, a certificate
    steps = 0
    while engine.process_pending():  # one step per round: bounded work between batches
        steps += 1
    assert steps > 3
    alerts = intel_alerts(store)
    assert set(alerts) == {(CLIENT, "208.80.152.0/24"), ("192.168.56.1", "308b0bd904abbef5e0034a1ff7a78920"),
                           ("192.168.56.1", "3a0b3b23152c445c27ac6a0c41d6fa74afb4095b")}
    assert all(evidence["found_by"] == "retro-hunt" for evidence in alerts.values())
    # every flow of the client to the network, though found over many steps, counts in its one alert
    to_network = store.query_one("SELECT count(*) AS n FROM flow_log WHERE src_ip = ? AND dst_ip LIKE '208.80.152.%'",
                                 (CLIENT,))["n"]
    assert alerts[(CLIENT, "208.80.152.0/24")]["matches"] == to_network
    [hunt] = hunts(store, "late feed")
    assert hunt.state == "done" and hunt.found == 3


def test_the_api_shows_what_was_found_later(api, store, admin_headers, analyse):
    engine = analyse(WIKIPEDIA)
    imported = api.post("/threat-intel/imports", params={"name": "late feed"}, content=f"{BITS}\n".encode(),
                        headers=admin_headers)
    assert imported.status_code == 200, imported.text
    assert imported.json()["source"]["retro_hunt"]["state"] == "waiting"  # for the engine to take the indicators
    engine.process_all()

    [source] = api.get("/threat-intel/sources", headers=admin_headers).json()["sources"]
    hunt = source["retro_hunt"]
    assert (hunt["state"], hunt["indicators"], hunt["found"], hunt["already_alerted"]) == ("done", 1, 1, 0)
    hunts = api.get(f"/threat-intel/sources/{source['id']}/retro-hunts", headers=admin_headers)
    assert hunts.status_code == 200 and hunts.json()["hunts"] == [hunt]
    missing = api.get("/threat-intel/sources/nothing/retro-hunts", headers=admin_headers)
    assert missing.status_code == 404 and "nothing" in missing.json()["detail"]

    [alert] = api.get("/alerts/", params={"rule_name": "THREAT_INTEL_MATCH"}, headers=admin_headers).json()["alerts"]
    evidence = api.get(f"/alerts/{alert['id']}", headers=admin_headers).json()["evidence"]
    assert evidence["found_by"] == "retro-hunt" and evidence["retro_hunt_id"] == hunt["id"]
    assert evidence["found_later_at"] >= hunt["created_at"] and evidence["indicator"] == BITS


def test_a_hunt_that_cannot_read_the_log_is_given_up_and_the_engine_goes_on(store, analyse):
    engine = analyse(WIKIPEDIA)
    store.execute("UPDATE event_log SET detail = '{\"kind\": \"not a record\"}' "
                  "WHERE name = 'upload.wikimedia.org.ncsa.uiuc.edu'")  # a row the hunt will read, damaged
    import_file(store, "late feed", b"ncsa.uiuc.edu\n", time.time())
    engine.process_all()
    [hunt] = hunts(store, "late feed")
    assert hunt.state == "done"
    failed = store.query_one("SELECT target, details FROM audit_log WHERE action = 'engine.retro_hunt_failed'")
    assert failed["target"] == f"retro_hunt#{hunt.id}" and "ValidationError" in failed["details"]
    analyse(PCAPS / "icmp-and-ssh.pcap")  # batches are still processed
    assert store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 0")["n"] == 0
