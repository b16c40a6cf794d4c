"""/threat-intel over a real encrypted store: imports of real files, sources, indicators, search, disabling,
the allowlist, feeds on the egress page, roles, and errors as {"detail": ...}."""

from __future__ import annotations

from appliance.auth import users
from tests.conftest import ADMIN_PASSWORD, login
from tests.intel.feeds import FEODO_CSV, misp_event, stix_bundle, stix_indicator

BUNDLE = stix_bundle(stix_indicator("[ipv4-addr:value = '198.51.100.23']", name="QakBot C2", confidence=85,
                                    valid_until="2030-01-01T00:00:00Z"),
                     stix_indicator("[domain-name:value = 'c2.bad.example']"))


def as_role(api, store, role: str) -> dict[str, str]:
    users.create_user(store, role, ADMIN_PASSWORD, role)
    return login(api, role)


def test_import_list_search_and_disable(api, store, admin_headers):
    imported = api.post("/threat-intel/imports", params={"name": "apt report", "expiry_days": 30},
                        content=BUNDLE, headers=admin_headers)
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert (result["received"], result["added"], result["refused"]) == (2, 2, 0)
    source = result["source"]
    assert source["format"] == "stix" and source["kind"] == "file" and source["last_result"] == "ok"
    misp = api.post("/threat-intel/imports", params={"name": "misp", "format": "misp"}, headers=admin_headers,
                    content=misp_event([{"type": "ip-dst", "value": "203.0.113.80", "to_ids": True}]))
    assert misp.status_code == 200 and misp.json()["source"]["format"] == "misp"
    csv = api.post("/threat-intel/imports", params={"name": "feodo", "confidence": 75}, content=FEODO_CSV,
                   headers=admin_headers)
    assert csv.status_code == 200 and csv.json()["refused"] == 1

    sources = api.get("/threat-intel/sources", headers=admin_headers).json()
    assert sources["total"] == 3
    counts = {row["name"]: (row["indicator_count"], row["last_refused"]) for row in sources["sources"]}
    assert counts == {"apt report": (2, 0), "misp": (1, 0), "feodo": (2, 1)}
    assert all(row["last_success_at"] for row in sources["sources"])

    listed = api.get("/threat-intel/indicators", params={"source": "apt report", "kind": "ip"},
                     headers=admin_headers).json()
    assert listed["total"] == 1
    indicator = listed["indicators"][0]
    assert indicator["value"] == "198.51.100.23" and indicator["source"] == "apt report"
    assert indicator["confidence"] == 85 and indicator["description"] == "QakBot C2"
    assert indicator["first_seen"] and indicator["last_seen"] and indicator["expires_at"] == 1893456000.0
    feodo = api.get("/threat-intel/indicators", params={"source": "feodo"}, headers=admin_headers).json()
    assert {row["confidence"] for row in feodo["indicators"]} == {75}

    found = api.get("/threat-intel/search", params={"q": "https://www.c2.bad.example/x"}, headers=admin_headers)
    assert found.status_code == 200
    assert found.json()["matches"] and [row["value"] for row in found.json()["found"]] == ["c2.bad.example"]
    assert not api.get("/threat-intel/search", params={"q": "192.0.2.1"}, headers=admin_headers).json()["found"]

    disabled = api.patch(f"/threat-intel/sources/{source['id']}", json={"enabled": False}, headers=admin_headers)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert not api.get("/threat-intel/search", params={"q": "c2.bad.example"}, headers=admin_headers).json()["matches"]
    removed = api.delete("/threat-intel/sources/feodo", headers=admin_headers)
    assert removed.status_code == 200 and removed.json() == {"detail": "source feodo and its 2 indicators removed"}
    actions = [row["action"] for row in store.query("SELECT action FROM audit_log")]
    assert {"threat_intel.imported", "threat_intel.source_changed", "threat_intel.source_deleted"} <= set(actions)


def test_bad_files_and_requests_answer_a_detail_and_lose_nothing(api, admin_headers):
    assert api.post("/threat-intel/imports", params={"name": "feed"}, content=BUNDLE,
                    headers=admin_headers).status_code == 200
    for params, body, says in [
        ({"name": "feed"}, b"<html>502 Bad Gateway</html>", "not JSON"),
        ({"name": "feed", "format": "list"}, b"192.0.2.1\n", "was imported as stix"),
        ({"name": "other"}, b"", "no indicator found"),
        ({"name": "other", "format": "yaml"}, b"192.0.2.1\n", "format"),
        ({"name": "other", "confidence": 101}, b"192.0.2.1\n", "confidence"),
    ]:
        answer = api.post("/threat-intel/imports", params=params, content=body, headers=admin_headers)
        assert answer.status_code == 400 and says in answer.json()["detail"], (params, answer.text)
    kept = api.get("/threat-intel/indicators", params={"source": "feed"}, headers=admin_headers).json()
    assert kept["total"] == 2
    missing = api.get("/threat-intel/indicators", params={"source": "nope"}, headers=admin_headers)
    assert missing.status_code == 404 and missing.json() == {"detail": "no threat-intel source 'nope'"}
    assert api.patch("/threat-intel/sources/nope", json={"enabled": False}, headers=admin_headers).status_code == 404
    assert api.get("/threat-intel/indicators", params={"kind": "email"}, headers=admin_headers).status_code == 400
    bad_allow = api.post("/threat-intel/allowlist", json={"value": "not a domain!"}, headers=admin_headers)
    assert bad_allow.status_code == 400 and "not an address, a CIDR or a domain" in bad_allow.json()["detail"]
    unknown = api.delete("/threat-intel/allowlist", params={"value": "x.example"}, headers=admin_headers)
    assert unknown.status_code == 404
    fetched = api.post("/threat-intel/sources/feed/fetch", headers=admin_headers)
    assert fetched.status_code == 409 and "file import" in fetched.json()["detail"]


def test_feeds_show_on_the_egress_page_with_what_they_request(api, admin_headers):
    plain = api.post("/threat-intel/feeds", headers=admin_headers, json={
        "name": "feodo", "kind": "https_list", "url": "http://feodotracker.example/blocklist.csv"})
    assert plain.status_code == 400 and "https://" in plain.json()["detail"]
    no_collection = api.post("/threat-intel/feeds", headers=admin_headers, json={
        "name": "taxii", "kind": "taxii", "url": "https://taxii.example/api1/"})
    assert no_collection.status_code == 400 and "collection" in no_collection.json()["detail"]
    bad_ca = api.post("/threat-intel/feeds", headers=admin_headers, json={
        "name": "feodo", "kind": "https_list", "url": "https://feodotracker.example/l.csv", "ca_cert": "not a PEM"})
    assert bad_ca.status_code == 400 and bad_ca.json()["detail"].startswith("ca_cert: not a PEM CA certificate")
    added = api.post("/threat-intel/feeds", headers=admin_headers, json={
        "name": "feodo", "kind": "https_list", "url": "https://feodotracker.example/blocklist.csv",
        "interval_seconds": 3600, "username": "box", "password": "s3cret"})
    assert added.status_code == 201 and added.json()["has_secret"] is True and "s3cret" not in added.text
    assert api.post("/threat-intel/feeds", headers=admin_headers, json={
        "name": "feodo", "kind": "https_list", "url": "https://feodotracker.example/b.csv"}).status_code == 409

    egress = api.get("/egress", headers=admin_headers).json()["destinations"]
    feed = next(row for row in egress if row["kind"] == "threat_intel_feed")
    assert feed["name"] == "feodo" and feed["enabled"] and feed["encrypted"]
    assert feed["endpoints"] == [{"host": "feodotracker.example", "port": 443, "protocol": "tcp"}]
    assert "GET https://feodotracker.example/blocklist.csv" in feed["example"] and "s3cret" not in str(feed)
    assert feed["last_result"] == "not fetched yet"
    queued = api.post(f"/threat-intel/sources/{added.json()['id']}/fetch", headers=admin_headers)
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    api.patch(f"/threat-intel/sources/{added.json()['id']}", json={"enabled": False}, headers=admin_headers)
    feed = next(row for row in api.get("/egress", headers=admin_headers).json()["destinations"]
                if row["kind"] == "threat_intel_feed")
    assert feed["enabled"] is False


def test_roles(api, store, admin_headers):
    viewer, analyst = as_role(api, store, "viewer"), as_role(api, store, "analyst")
    assert api.post("/threat-intel/imports", params={"name": "f"}, content=b"192.0.2.1\n",
                    headers=admin_headers).status_code == 200
    for headers in (viewer, analyst):
        assert api.get("/threat-intel/sources", headers=headers).status_code == 200
        assert api.get("/threat-intel/search", params={"q": "192.0.2.1"}, headers=headers).status_code == 200
        assert api.post("/threat-intel/imports", params={"name": "g"}, content=b"192.0.2.2\n",
                        headers=headers).status_code == 403
        assert api.patch("/threat-intel/sources/f", json={"enabled": False}, headers=headers).status_code == 403
        assert api.post("/threat-intel/feeds", headers=headers, json={
            "name": "x", "kind": "https_list", "url": "https://x.example/l"}).status_code == 403
    assert api.post("/threat-intel/allowlist", json={"value": "192.0.2.1"}, headers=viewer).status_code == 403
    allowed = api.post("/threat-intel/allowlist", json={"value": "192.0.2.1", "comment": "printer"}, headers=analyst)
    assert allowed.status_code == 201 and allowed.json()["created_by"] == "analyst"
    found = api.get("/threat-intel/search", params={"q": "192.0.2.1"}, headers=viewer).json()
    assert not found["matches"] and found["overruled_by"] == "allowlist"
    assert api.get("/threat-intel/allowlist", headers=viewer).json()["entries"][0]["comment"] == "printer"
