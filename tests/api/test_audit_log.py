from __future__ import annotations

import apsw
import pytest

from appliance.audit import log as audit
from tests.conftest import tamper_with_audit_log


def test_chain_verifies_and_tampering_is_located(api, admin_headers, store):
    for n in range(5):
        api.post("/settings/whitelist", json={"cidr": f"10.0.{n}.0/24"}, headers=admin_headers)
    page = api.get("/settings/audit-log", params={"limit": 3}, headers=admin_headers).json()
    assert page["chain_intact"] is True and page["total"] >= 6 and len(page["entries"]) == 3
    entry = page["entries"][0]
    assert {"timestamp", "username", "source_ip", "action", "target", "details", "hash"} <= set(entry)
    victim = page["entries"][2]["id"]
    tamper_with_audit_log(store, 'UPDATE audit_log SET details = \'{"cidr":"0.0.0.0/0"}\' WHERE id = ?', (victim,))
    tampered = api.get("/settings/audit-log", headers=admin_headers).json()
    assert tampered["chain_intact"] is False and tampered["first_broken_id"] == victim


def test_deleting_an_entry_breaks_the_chain(store):
    for n in range(3):
        audit.record(store, username="u", source_ip="127.0.0.1", action=f"a{n}")
    assert audit.verify_chain(store) == (True, None, 3)
    tamper_with_audit_log(store, "DELETE FROM audit_log WHERE action = 'a1'")
    intact, broken, _ = audit.verify_chain(store)
    assert not intact and broken == 3


def test_the_audit_log_refuses_edits_and_deletions(store):
    audit.record(store, username="u", source_ip="127.0.0.1", action="login")
    for sql in ("UPDATE audit_log SET username = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(apsw.ConstraintError, match="append-only"):
            store.execute(sql)
    assert audit.verify_chain(store) == (True, None, 1)


def test_the_page_verifier_checks_only_what_was_appended_but_sees_every_edit(store):
    verifier = audit.ChainVerifier()
    for n in range(4):
        audit.record(store, username="u", source_ip="127.0.0.1", action=f"a{n}")
    assert verifier.verify(store) == (True, None, 4)
    audit.record(store, username="u", source_ip="127.0.0.1", action="a4")
    assert verifier.verify(store) == (True, None, 5)  # the four known-good ones plus the new one
    tamper_with_audit_log(store, "UPDATE audit_log SET action = 'forged' WHERE action = 'a1'")
    assert verifier.verify(store) == (False, 2, 1)  # the guard's removal changed the schema: checked from the start
    assert verifier.verify(store) == audit.verify_chain(store)
