from __future__ import annotations

from appliance.audit import log as audit


def test_chain_verifies_and_tampering_is_located(api, admin_headers, store):
    for n in range(5):
        api.post("/settings/whitelist", json={"cidr": f"10.0.{n}.0/24"}, headers=admin_headers)
    page = api.get("/settings/audit-log", params={"limit": 3}, headers=admin_headers).json()
    assert page["chain_intact"] is True and page["total"] >= 6 and len(page["entries"]) == 3
    entry = page["entries"][0]
    assert {"timestamp", "username", "source_ip", "action", "target", "details", "hash"} <= set(entry)
    victim = page["entries"][2]["id"]
    store.execute('UPDATE audit_log SET details = \'{"cidr":"0.0.0.0/0"}\' WHERE id = ?', (victim,))
    tampered = api.get("/settings/audit-log", headers=admin_headers).json()
    assert tampered["chain_intact"] is False and tampered["first_broken_id"] == victim


def test_deleting_an_entry_breaks_the_chain(store):
    for n in range(3):
        audit.record(store, username="u", source_ip="127.0.0.1", action=f"a{n}")
    assert audit.verify_chain(store) == (True, None, 3)
    store.execute("DELETE FROM audit_log WHERE action = 'a1'")
    intact, broken, _ = audit.verify_chain(store)
    assert not intact and broken == 3
