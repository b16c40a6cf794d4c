"""The seed's "Agents" section on the box, plus ingest and the admins' sensor management (TestClient over a
real encrypted store; licenses signed by a per-session test vendor key)."""

from __future__ import annotations

import time

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.audit import log as audit
from appliance.cloud_sync.settings import CloudStatus, save_status
from appliance.licensing import box_license
from sensor.records import Batch, DnsEvent, Flow, encode_batch
from tests.agents.licensed_box import DAY

MSGPACK = {"Content-Type": "application/msgpack"}


def auth_body(key: str, agent_id: str = "sensor-a", **overrides) -> dict:
    return {
        "license_key": key,
        "agent_id": agent_id,
        "hostname": "mirror-01",
        "os_type": "linux",
        "agent_version": "0.1.0",
    } | overrides


def agent_headers(api, key: str, agent_id: str = "sensor-a", **overrides) -> dict[str, str]:
    response = api.post("/agents/auth", json=auth_body(key, agent_id, **overrides))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def batch_bytes(agent_id: str, seq: int, flows: int = 2) -> bytes:
    return encode_batch(
        Batch(
            agent_id=agent_id,
            seq=seq,
            sent_at=time.time(),
            flows=[
                Flow(
                    uid=f"F{seq}-{n}",
                    ts_start=1.0,
                    ts_end=2.0,
                    proto="TCP",
                    src_ip="10.0.0.5",
                    dst_ip="10.0.0.9",
                    src_port=40000 + n,
                    dst_port=443,
                )
                for n in range(flows)
            ],
            events=[DnsEvent(ts=1.5, src_ip="10.0.0.5", query="example.org")],
        )
    )


def audit_actions(store) -> list[str]:
    return [entry.action for entry in audit.page(store, 100, 0)[0]]


def test_license_key_buys_a_token_and_registers_the_sensor(api, store, license_key, admin_headers):
    response = api.post("/agents/auth", json=auth_body(license_key))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # it carries a token: no cache may keep it
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["access_token"]
    agents = api.get("/agents", headers=admin_headers).json()
    assert agents["total"] == 1
    assert agents["agents"][0] | {"created_at": 0, "last_seen": 0} == {
        "agent_id": "sensor-a",
        "name": "mirror-01",
        "hostname": "mirror-01",
        "os_type": "linux",
        "agent_version": "0.1.0",
        "revoked": False,
        "created_at": 0,
        "last_seen": 0,
        "next_seq": 0,
        "capture": None,  # no batch yet
    }
    assert "agent.registered" in audit_actions(store)


def test_unknown_forged_or_foreign_keys_are_401(api, store, license_key, make_license, current_license):
    payload, signature = license_key.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_vendor = Ed25519PrivateKey.generate()
    _, foreign = make_license(signing_key=other_vendor)
    _, other_license = make_license(license_id="lic_someone_else")
    for key, why in [
        ("nsx_garbage", "invalid license key"),
        (f"{payload}.{flipped}", "signature"),
        (foreign, "does not trust"),
        (other_license, "not the license installed"),
    ]:
        response = api.post("/agents/auth", json=auth_body(key))
        assert response.status_code == 401, key
        assert why in response.json()["detail"]
    assert store.query("SELECT * FROM agents") == []


def test_a_box_without_a_license_registers_no_sensor(api, store, current_license):
    response = api.post("/agents/auth", json=auth_body(current_license[1]))
    assert response.status_code == 423
    assert "no license is installed" in response.json()["detail"]


def test_sensor_limit_applies_to_new_agent_ids_only(api, license_key):
    agent_headers(api, license_key, "sensor-a")
    agent_headers(api, license_key, "sensor-b")
    third = api.post("/agents/auth", json=auth_body(license_key, "sensor-c"))
    assert third.status_code == 403 and "allows 2 sensors" in third.json()["detail"]
    assert api.post("/agents/auth", json=auth_body(license_key, "sensor-b", agent_version="0.2.0")).status_code == 200


def test_locked_license_refuses_new_sensors_with_a_renewal_hint_but_keeps_known_ones(
    api, store, make_license, trusted_vendor
):
    now = int(time.time())
    _, valid = make_license(issued_at=now - 400 * DAY, expires_at=now + DAY)
    box_license.install(store, valid, box_license.trusted_keys())
    agent_headers(api, valid, "known")
    _, expired = make_license(issued_at=now - 399 * DAY, expires_at=now - 20 * DAY)  # grace (14 d) is over
    box_license.install(store, expired, box_license.trusted_keys())
    response = api.post("/agents/auth", json=auth_body(expired, "newcomer"))
    assert response.status_code == 423
    assert "Renew under Billing" in response.json()["detail"]
    known = agent_headers(api, expired, "known")  # detection never stops
    heartbeat = api.post("/agents/heartbeat", headers=known).json()
    assert heartbeat["license"]["status"] == "locked"


def test_heartbeat_reports_license_and_update_availability(api, store, license_key):
    headers = agent_headers(api, license_key)
    before = store.query_one("SELECT last_seen FROM agents")["last_seen"]
    body = api.post("/agents/heartbeat", headers=headers).json()
    assert body["agent_id"] == "sensor-a" and body["license"]["status"] == "valid"
    assert body["latest_version"] == "0.1.0" and body["update_available"] is False
    assert store.query_one("SELECT last_seen FROM agents")["last_seen"] >= before
    save_status(store, CloudStatus(result="ok", latest_sensor_version="0.10.0"))
    body = api.post("/agents/heartbeat", headers=headers, json={"agent_version": "0.9.1"}).json()
    assert body["latest_version"] == "0.10.0" and body["update_available"] is True
    assert store.query_one("SELECT agent_version FROM agents")["agent_version"] == "0.9.1"
    version = api.get("/agents/version", headers=headers).json()
    assert version == {"latest_version": "0.10.0", "current_version": "0.9.1", "update_available": True}


def test_heartbeat_limit_is_two_per_minute_per_agent(api, license_key):
    headers = agent_headers(api, license_key)
    codes = [api.post("/agents/heartbeat", headers=headers).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    other = agent_headers(api, license_key, "sensor-b")
    assert api.post("/agents/heartbeat", headers=other).status_code == 200


def test_agent_endpoints_refuse_user_tokens_and_admin_endpoints_refuse_agents(api, license_key, admin_headers):
    headers = agent_headers(api, license_key)
    assert api.post("/agents/heartbeat", headers=admin_headers).status_code == 403
    assert (
        api.post("/agents/ingest", content=batch_bytes("admin", 0), headers=admin_headers | MSGPACK).status_code == 403
    )
    assert api.get("/agents", headers=headers).status_code == 403
    assert api.post("/agents/sensor-a/revoke", headers=headers).status_code == 403


def test_config_carries_rule_overrides_and_the_live_whitelist(api, store, license_key, admin_headers):
    store.set_setting("engine", {"rule_overrides": {"PORT_SCAN": {"enabled": False}}})
    assert (
        api.post(
            "/settings/whitelist", headers=admin_headers, json={"cidr": "192.0.2.0/24", "comment": "backup server"}
        ).status_code
        == 201
    )
    store.execute(
        "INSERT INTO whitelist (id, cidr, comment, created_by, created_at, expires_at) "
        "VALUES ('old', '198.51.100.0/24', 'expired', 'admin', 0, 1)"
    )
    config = api.get("/agents/config", headers=agent_headers(api, license_key)).json()
    assert config["rule_overrides"]["PORT_SCAN"]["enabled"] is False
    assert [entry["cidr"] for entry in config["whitelist"]] == ["192.0.2.0/24"]


def test_ingest_stores_each_batch_once(api, store, license_key):
    headers = agent_headers(api, license_key) | MSGPACK
    first = api.post("/agents/ingest", content=batch_bytes("sensor-a", 7, flows=3), headers=headers)
    assert first.status_code == 200 and first.json() == {"seq": 7, "duplicate": False}
    again = api.post("/agents/ingest", content=batch_bytes("sensor-a", 7, flows=3), headers=headers)
    assert again.json() == {"seq": 7, "duplicate": True}
    rows = store.query("SELECT agent_id, seq, flows, done, payload FROM ingest_batches")
    assert [(r["agent_id"], r["seq"], r["flows"], r["done"]) for r in rows] == [("sensor-a", 7, 3, 0)]
    assert msgspec.msgpack.decode(rows[0]["payload"])["events"][0]["query"] == "example.org"
    # a sensor that lost its spool learns where to continue
    assert api.post("/agents/auth", json=auth_body(license_key)).json()["next_seq"] == 8


@pytest.mark.parametrize(
    "body, content_type, status, detail",
    [
        (b"\x93garbage", "application/msgpack", 400, "not a msgpack sensor.records.Batch"),
        (b"", "application/msgpack", 400, "not a msgpack"),
        (msgspec.msgpack.encode({"agent_id": "sensor-a", "seq": "x", "sent_at": 0}), "application/msgpack", 400, "seq"),
        (batch_bytes("sensor-a", -1), "application/msgpack", 400, "`int` >= 0 - at `$.seq`"),
        (batch_bytes("sensor-zz", 1), "application/msgpack", 403, "not this token's sensor"),
        (batch_bytes("sensor-a", 1), "application/json", 415, "application/msgpack"),
    ],
    # Named ids: the batches carry sent_at=time.time(), and xdist workers must collect identical test ids.
    ids=["garbage", "empty", "seq-not-int", "negative-seq", "someone-elses-sensor", "wrong-content-type"],
)
def test_ingest_rejects_bad_batches_clearly(api, store, license_key, body, content_type, status, detail):
    headers = agent_headers(api, license_key) | {"Content-Type": content_type}
    response = api.post("/agents/ingest", content=body, headers=headers)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert store.query("SELECT * FROM ingest_batches") == []


def batch_with(flow: dict | None = None, event: dict | None = None, **top) -> bytes:
    """sensor-a's batch 1 as the wire carries it, with fields of its first flow, its event or itself replaced."""
    batch = msgspec.to_builtins(msgspec.msgpack.decode(batch_bytes("sensor-a", 1), type=Batch))
    batch["flows"][0].update(flow or {})
    batch["events"][0].update(event or {})
    return msgspec.msgpack.encode(batch | top)


@pytest.mark.parametrize(
    "body, detail",
    [
        (batch_with({"bytes_orig": -1}), "`int` >= 0 - at `$.flows[0].bytes_orig`"),
        (batch_with({"pkts_resp": -5}), "at `$.flows[0].pkts_resp`"),
        (batch_with({"size_mean": float("nan")}), "at `$.flows[0].size_mean`"),
        (batch_with({"ts_end": float("inf")}), "at `$.flows[0].ts_end`"),
        (batch_with({"iat_mean": float("-inf")}), "at `$.flows[0].iat_mean`"),
        (batch_with(event={"ts": float("nan")}), "at `$.events[0].ts`"),
        (batch_with({"dst_port": 2**64 - 1}), "`int` <= 65535 - at `$.flows[0].dst_port`"),
        (batch_with(event={"src_port": 70000}), "at `$.events[0].src_port`"),
        (batch_with(seq=2**63 - 1), "at `$.seq`"),
        (batch_with(seq=2**64 - 1), "at `$.seq`"),
        (batch_with({"padding": "x" * 100_000}), "unknown field `padding` - at `$.flows[0]`"),
        (batch_with(event={"junk": [0] * 1000}), "unknown field `junk`"),
        (batch_with(junk=b"\0" * 1_000_000), "unknown field `junk`"),
        (batch_with({"uid": "F" * 1_000_000}), "length <= 128 - at `$.flows[0].uid`"),
        (batch_with(event={"query": "a" * 100_000}), "at `$.events[0].query`"),
        (batch_with(schema=2, new_field=1), "batch schema 2 is not supported"),
    ],
    ids=[
        "negative-bytes",
        "negative-packets",
        "nan-size",
        "infinite-time",
        "infinite-iat",
        "nan-event-time",
        "port-2**64-1",
        "event-port-out-of-range",
        "seq-2**63-1",
        "seq-2**64-1",
        "unknown-flow-field",
        "unknown-event-field",
        "unknown-batch-field",
        "oversized-string",
        "oversized-query",
        "newer-schema",
    ],
)
def test_ingest_refuses_values_no_sensor_sends_naming_the_field(api, store, license_key, body, detail):
    response = api.post("/agents/ingest", content=body, headers=agent_headers(api, license_key) | MSGPACK)
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    assert store.query("SELECT * FROM ingest_batches") == []


def test_ingest_takes_what_a_capture_with_a_clock_stepping_back_gives(api, store, license_key):
    """Our own sensor reports negative inter-arrival times and a flow ending before it started when the capture's
    clock steps back: refusing those would drop a whole batch of good records. The engine copes with them."""
    body = batch_with({"iat_mean": -668322441.99, "iat_min": -668322441.99, "ts_start": 1429518024.03,
                       "ts_end": 761195582.03}, seq=2**63 - 2)
    response = api.post("/agents/ingest", content=body, headers=agent_headers(api, license_key) | MSGPACK)
    assert response.status_code == 200, response.text
    assert store.query_one("SELECT seq FROM ingest_batches")["seq"] == 2**63 - 2


def test_admins_list_the_batches_the_engine_set_aside_and_retry_one(api, store, license_key, admin_headers):
    for seq, failed_at in ((1, None), (2, 100.0), (3, 200.0)):
        store.execute(
            "INSERT INTO ingest_batches (agent_id, seq, received_at, payload, attempts, failed_at, error) "
            "VALUES ('sensor-a', ?, 1, x'80', ?, ?, ?)",
            (seq, 3 if failed_at else 0, failed_at, f"ValueError: batch {seq}" if failed_at else None),
        )
    listed = api.get("/agents/ingest/failed", headers=admin_headers).json()
    assert listed["total"] == 2
    assert [(b["seq"], b["attempts"], b["error"]) for b in listed["batches"]] == [
        (3, 3, "ValueError: batch 3"),
        (2, 3, "ValueError: batch 2"),
    ]
    assert api.get("/agents/ingest/failed", params={"limit": 1, "offset": 1}, headers=admin_headers).json()[
        "batches"
    ][0]["seq"] == 2
    retried = api.post(f"/agents/ingest/failed/{listed['batches'][1]['id']}/retry", headers=admin_headers)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert retried.json()["batch"]["error"] == "ValueError: batch 2"
    row = store.query_one("SELECT attempts, failed_at, error, done FROM ingest_batches WHERE seq = 2")
    assert row == {"attempts": 0, "failed_at": None, "error": None, "done": 0}
    assert api.get("/agents/ingest/failed", headers=admin_headers).json()["total"] == 1
    assert "ingest.batch_retried" in audit_actions(store)
    again = api.post(f"/agents/ingest/failed/{listed['batches'][1]['id']}/retry", headers=admin_headers)
    assert again.status_code == 404 and "no set-aside batch" in again.json()["detail"]
    assert api.get("/agents/ingest/failed", headers=agent_headers(api, license_key)).status_code == 403
    assert api.get("/agents/ingest/failed").status_code == 401


def test_admin_renames_and_revokes_and_the_token_dies_at_once(api, store, license_key, admin_headers):
    headers = agent_headers(api, license_key)
    renamed = api.patch("/agents/sensor-a", headers=admin_headers, json={"name": "Plant floor mirror"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Plant floor mirror"
    assert api.patch("/agents/nope", headers=admin_headers, json={"name": "x"}).status_code == 404
    assert api.patch("/agents/sensor-a", headers=admin_headers, json={"name": ""}).status_code == 400
    assert api.post("/agents/ingest", content=batch_bytes("sensor-a", 1), headers=headers | MSGPACK).status_code == 200
    revoked = api.post("/agents/sensor-a/revoke", headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    for response in (
        api.post("/agents/ingest", content=batch_bytes("sensor-a", 2), headers=headers | MSGPACK),
        api.get("/agents/config", headers=headers),
    ):
        assert response.status_code == 401 and "revoked" in response.json()["detail"]
    again = api.post("/agents/auth", json=auth_body(license_key))
    assert again.status_code == 403 and "revoked" in again.json()["detail"]
    assert {"agent.renamed", "agent.revoked"} <= set(audit_actions(store))
    assert store.query_one("SELECT count(*) AS n FROM ingest_batches")["n"] == 1


def test_sensor_list_carries_each_sensors_capture_health(api, store, license_key, admin_headers):
    headers = agent_headers(api, license_key) | MSGPACK
    agent_headers(api, license_key, agent_id="sensor-b")  # registered, never sent a batch
    for seq, drops in ((1, 5), (2, 7)):
        batch = msgspec.msgpack.decode(batch_bytes("sensor-a", seq, flows=3), type=Batch)
        batch.stats.packets, batch.stats.kernel_drops, batch.stats.malformed = 1000, drops, 1
        assert api.post("/agents/ingest", content=encode_batch(batch), headers=headers).status_code == 200
    sensors = {agent["agent_id"]: agent for agent in api.get("/agents/", headers=admin_headers).json()["agents"]}
    capture = sensors["sensor-a"]["capture"]
    assert {key: capture[key] for key in ("batches", "flows", "packets", "kernel_drops", "malformed")} == {
        "batches": 2, "flows": 6, "packets": 2000, "kernel_drops": 12, "malformed": 2}
    assert capture["updated_at"] >= sensors["sensor-a"]["created_at"]
    assert sensors["sensor-b"]["capture"] is None
