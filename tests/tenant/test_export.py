"""GET /tenant/export: everything in, no secret out, checksums that verify, 1 per hour, admins only."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

from appliance.audit import log as audit
from appliance.tenant import redaction
from tests.tenant.conftest import KNOWN_STRINGS, add_analyst, row_counts


def download(api, headers) -> bytes:
    response = api.get("/tenant/export", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="netsenx-export-')
    return response.content


def test_the_export_holds_every_table_with_its_rows_and_a_manifest_that_verifies(
    api, admin_headers, populated_box, store
):
    archive = zipfile.ZipFile(io.BytesIO(download(api, admin_headers)))
    manifest = json.loads(archive.read("manifest.json"))
    counts = row_counts(store)  # after the export: its own audit entry is in both

    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(archive.namelist()) == set(listed) | {"manifest.json"}
    for name, entry in listed.items():
        data = archive.read(name)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["bytes"]

    exported = {name.removeprefix("tables/").removesuffix(".json") for name in listed if name.startswith("tables/")}
    assert exported == set(counts) - set(redaction.WITHHELD_TABLES)
    assert {
        "alerts",
        "decision_traces",
        "trace_checkpoints",
        "whitelist",
        "audit_log",
        "settings",
        "users",
        "agents",
        "incidents",
        "breaches",
        "ingest_batches",
        "engine_state",
    } <= exported
    for table in exported:
        rows = json.loads(archive.read(f"tables/{table}.json"))
        withheld = len(manifest["withheld"]["rows"].get(table, []))
        assert len(rows) + withheld == counts[table] == listed[f"tables/{table}.json"]["rows"] + withheld, table
    assert counts["alerts"] >= 3 and counts["decision_traces"] >= 3 and counts["ingest_batches"] >= 2

    assert manifest["box_id"] == store.get_setting("box_id")
    assert manifest["schema_version"] == store.query_one("PRAGMA user_version")["user_version"]
    assert [rule["rule_name"] for rule in json.loads(archive.read("rules/catalogue.json"))]
    whitelist = json.loads(archive.read("tables/whitelist.json"))
    assert [entry["comment"] for entry in whitelist] == [KNOWN_STRINGS[0]]
    audit_actions = [entry["action"] for entry in json.loads(archive.read("tables/audit_log.json"))]
    assert audit_actions[-1] == "tenant.exported"


def test_no_secret_leaves_the_box(api, admin_headers, populated_box):
    raw = download(api, admin_headers)
    archive = zipfile.ZipFile(io.BytesIO(raw))
    contents = [raw] + [archive.read(name) for name in archive.namelist()]
    for name, secret in populated_box.values().items():
        for encoded in (secret.encode(), json.dumps(secret).encode()[1:-1]):
            assert not any(encoded in content for content in contents), f"{name} is in the export"

    manifest = json.loads(archive.read("manifest.json"))
    assert sorted(manifest["withheld"]["rows"]["settings"]) == ["box_signing_key", "token_signing_secret"]
    assert set(manifest["withheld"]["columns"]["users"]) == {"password_hash", "totp_secret"}
    assert "revoked_tokens" in manifest["withheld"]["tables"]
    batches = json.loads(archive.read("tables/ingest_batches.json"))
    assert batches and all("payload" not in batch and batch["agent_id"] == "local" for batch in batches)
    users = {user["username"]: user for user in json.loads(archive.read("tables/users.json"))}
    assert set(users) == {"admin", "ana"} and users["ana"]["role"] == "analyst"


def test_stored_text_is_exported_exactly_so_the_audit_chain_verifies_offline(api, admin_headers, populated_box):
    archive = zipfile.ZipFile(io.BytesIO(download(api, admin_headers)))
    previous = audit.GENESIS
    entries = json.loads(archive.read("tables/audit_log.json"))
    for entry in entries:
        expected = audit.entry_hash(
            previous,
            entry["timestamp"],
            entry["username"],
            entry["source_ip"],
            entry["action"],
            entry["target"],
            entry["details"],
        )
        assert entry["previous_hash"] == previous and entry["hash"] == expected
        previous = entry["hash"]
    assert len(entries) >= 4
    baseline = json.loads(archive.read("tables/engine_state.json"))
    assert base64.b64decode(baseline[0]["value"]["base64"])  # BLOBs survive as base64


def test_a_second_export_within_the_hour_is_rate_limited(api, admin_headers, store):
    first = api.get("/tenant/export", headers=admin_headers)
    assert first.status_code == 200 and first.headers["x-ratelimit-limit"] == "1"
    second = api.get("/tenant/export", headers=admin_headers)
    assert second.status_code == 429
    assert "1 requests per 3600 s" in second.json()["detail"]
    assert int(second.headers["retry-after"]) > 0


def test_only_admins_export(api, admin_headers):
    response = api.get("/tenant/export", headers=add_analyst(api, admin_headers))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert api.get("/tenant/export").status_code == 401


def test_secret_names_are_caught_by_pattern_unless_documented_safe():
    for name in (
        "token_signing_secret",
        "box_signing_key",
        "smtp_password",
        "api_token",
        "token_hash",
        "vendor_private_pem",
        "backup_seed",
    ):
        assert redaction.is_secret_name(name), name
    for name in ("key", "public_key", "incident_key", "box_id", "engine", "cloud_sync", "last_backup_at", "hash"):
        assert not redaction.is_secret_name(name), name
    assert set(redaction.withheld_columns("agents", ["agent_id", "enrolment_token"])) == {"enrolment_token"}
