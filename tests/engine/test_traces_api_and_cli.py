from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import PCAPS


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True)


def test_list_search_detail_and_proof_trail(api, admin_headers, analyse, store, tmp_path):
    analyse(PCAPS / "kerberoast.pcap", PCAPS / "dns-tunnel-txt.pcap")
    listing = api.get("/traces/", headers=admin_headers).json()
    assert listing["total"] >= 2 and listing["traces"][0]["seq"] > listing["traces"][-1]["seq"]
    found = api.get("/traces/", params={"search": "KERBEROASTING 10.0.0.2"}, headers=admin_headers).json()
    assert found["total"] >= 1 and {t["rule_name"] for t in found["traces"]} == {"KERBEROASTING"}
    assert api.get("/traces/", params={"search": 'port "scan OR'}, headers=admin_headers).status_code == 200
    trace_id = found["traces"][0]["id"]
    detail = api.get(f"/traces/{trace_id}", headers=admin_headers).json()
    assert detail["content"]["thresholds"] and detail["content"]["features"]
    assert detail["content"]["shap"]["model_version"] and detail["content"]["outcome"] == "alert_raised"
    trail = api.get(f"/traces/{trace_id}/proof-trail", headers=admin_headers).json()
    box_key = api.get("/traces/box-key", headers=admin_headers).json()["public_key"]
    path = tmp_path / "trail.json"
    path.write_text(json.dumps(trail))
    verified = run_cli("traces", "verify", str(path), "--public-key", box_key)
    assert verified.returncode == 0 and verified.stdout.startswith("OK")
    assert api.get("/traces/nope", headers=admin_headers).status_code == 404
    assert api.get("/traces/nope/proof-trail", headers=admin_headers).status_code == 404


def test_verify_says_precisely_what_was_altered(api, admin_headers, analyse, tmp_path):
    analyse(PCAPS / "modbus.pcap")
    trace_id = api.get("/traces/", headers=admin_headers).json()["traces"][-1]["id"]
    trail = api.get(f"/traces/{trace_id}/proof-trail", headers=admin_headers).json()
    cases = {
        "content has been altered": lambda t: t["trace"]["content"].update(score=0.01),
        "signature does not match": lambda t: t["checkpoint"].update(created_at=t["checkpoint"]["created_at"] + 1),
        "different key": None,
    }
    for expected, tamper in cases.items():
        altered = json.loads(json.dumps(trail))
        if tamper:
            tamper(altered)
        path = tmp_path / "altered.json"
        path.write_text(json.dumps(altered))
        extra = ["--public-key", "00" * 32] if tamper is None else []
        result = run_cli("traces", "verify", str(path), *extra)
        assert result.returncode == 1 and expected in result.stderr, (expected, result.stderr)
    if trail["chain_to_checkpoint"]:
        altered = json.loads(json.dumps(trail))
        altered["chain_to_checkpoint"].pop(0)
        path.write_text(json.dumps(altered))
        assert "missing" in run_cli("traces", "verify", str(path)).stderr
    path.write_text("{not json")
    broken = run_cli("traces", "verify", str(path))
    assert broken.returncode == 1 and broken.stderr.count("\n") == 1


def test_analyze_prints_seed_alert_fields_and_trace_ids():
    result = run_cli("analyze", str(PCAPS / "icmp-portscan.pcap"), "--json")
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["rule_name"], a["source_ip"]) for a in alerts] == [("NETWORK_SWEEP", "192.168.1.109")]
    assert set(alerts[0]) == {
        "id",
        "severity",
        "rule_name",
        "source_ip",
        "dest_ip",
        "port",
        "protocol",
        "score",
        "timestamp",
        "status",
        "shap_json",
        "trace_id",
    }
    missing = run_cli("analyze", "/nonexistent.pcap")
    assert missing.returncode == 1 and "no such capture" in missing.stderr
