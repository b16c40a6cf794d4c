"""GET /api/v1/export/events: a reader resumes exactly where it stopped (no gaps, no repeats, stable order),
and the licence's siem_export feature gates it like reports (403 without the feature, 423 once locked)."""

from __future__ import annotations

import json
import time

from appliance.licensing import box_license
from tests.siem.records import queue_batch

DAY = 86_400


def page(api, headers, after: str = "0-0-0", **params):
    response = api.get("/export/events", params={"after": after, **params}, headers=headers)
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    return lines, response.headers["x-export-next"], response.headers["x-export-more"] == "true"


def read_all(api, headers, after: str = "0-0-0", **params) -> tuple[list[dict], str]:
    documents = []
    while True:
        lines, after, more = page(api, headers, after, **params)
        documents += lines
        if not more:
            return documents, after


def test_pages_join_into_the_whole_stream_and_a_reader_resumes_mid_page(api, admin_headers, store, alerts,
                                                                         license_key):
    for _ in range(7):
        alerts.raise_alert()
    queue_batch(store, seq=0)
    queue_batch(store, seq=1)
    everything = {"records": "alerts,flows,protocol_events"}
    whole, end = read_all(api, admin_headers, limit=1000, **everything)
    assert len(whole) == 7 + 2 * 7
    paged, paged_end = read_all(api, admin_headers, limit=4, **everything)
    assert paged == whole and paged_end == end
    first, _, more = page(api, admin_headers, limit=10, **everything)
    assert more and len(first) == 10
    resumed, _ = read_all(api, admin_headers, after=first[5]["netsenx"]["cursor"], limit=3, **everything)
    assert first[:6] + resumed == whole  # stopped after the sixth line: took up exactly after it


def test_new_records_come_after_the_cursor_and_nothing_is_repeated(api, admin_headers, store, alerts, license_key):
    alerts.raise_alert()
    first, cursor = read_all(api, admin_headers)
    assert len(first) == 1
    assert page(api, admin_headers, cursor)[0] == []
    updated = first[0]["netsenx"]["alert_id"]
    alerts.update_alert(updated)
    alerts.raise_alert()
    second, _ = read_all(api, admin_headers, cursor)
    assert [(line["netsenx"]["alert_id"] == updated, line["netsenx"]["update"]) for line in second] == [
        (True, True), (False, False)]


def test_decisions_that_raised_nothing_are_passed_over_for_good(api, admin_headers, store, alerts, license_key):
    from appliance.traces import chain

    with store.write_transaction() as connection:
        for index in range(5):
            chain.append(connection, {"outcome": "suppressed_whitelist", "rule_name": "PORT_SCAN",
                                      "incident_key": f"quiet-{index}", "source_ip": "10.0.0.1", "dest_ip": ""})
    lines, cursor, more = page(api, admin_headers)
    assert lines == [] and not more and cursor == "5-0-0"


def test_ecs_and_bad_parameters(api, admin_headers, alerts, license_key):
    alerts.raise_alert()
    lines, _, _ = page(api, admin_headers, schema="ecs")
    assert lines[0]["event"]["kind"] == "alert" and "@timestamp" in lines[0]
    for params in ({"after": "12"}, {"records": "alerts,passwords"}, {"limit": 0}, {"schema": "cef"}):
        response = api.get("/export/events", params=params, headers=admin_headers)
        assert response.status_code == 400, params


def test_the_export_needs_the_siem_export_feature(api, admin_headers, store, make_license, trusted_vendor):
    refused = api.get("/export/events", headers=admin_headers)
    assert refused.status_code == 423 and "no license" in refused.json()["detail"]
    now = int(time.time())
    _, starter = make_license(plan="starter", features=("reports",), issued_at=now - DAY, expires_at=now + 30 * DAY)
    box_license.install(store, starter, box_license.trusted_keys())
    response = api.get("/export/events", headers=admin_headers)
    assert response.status_code == 403 and "siem_export" in response.json()["detail"]
    destination = {"name": "siem", "host": "127.0.0.1", "port": 6514}
    assert api.post("/export/destinations", json=destination, headers=admin_headers).status_code == 403
    _, lapsed = make_license(license_id="lic_test0002", issued_at=now - 100 * DAY, expires_at=now - 20 * DAY)
    box_license.install(store, lapsed, box_license.trusted_keys())
    assert api.get("/export/events", headers=admin_headers).status_code == 423


def test_export_destinations_start_now_or_from_the_beginning(api, admin_headers, alerts, license_key):
    alerts.raise_alert()
    now = api.post("/export/destinations", json={"name": "new", "host": "127.0.0.1"}, headers=admin_headers).json()
    history = api.post("/export/destinations", json={"name": "all", "host": "127.0.0.1", "start": "beginning"},
                       headers=admin_headers).json()
    assert now["cursor"] == "1-1-0" and history["cursor"] == "0-0-0"
    assert now["transport"] == "tls" and now["schema"] == "eve" and now["records"] == ["alerts"]
    bad = api.post("/export/destinations", json={"name": "x", "host": "-nope-"}, headers=admin_headers)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("host:")
    assert api.delete(f"/export/destinations/{now['id']}", headers=admin_headers).status_code == 200
    assert api.get("/export/destinations", headers=admin_headers).json()["total"] == 1
