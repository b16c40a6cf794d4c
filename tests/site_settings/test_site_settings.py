"""Site and rule settings through the API and the CLI: checked, audited, and followed by a running engine
without a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from appliance.auth import users
from appliance.cli.main import main as appliance
from appliance.engine.process import Engine
from appliance.engine.rules import RULE_MODULES, port_scan
from appliance.ingest.local_sensor import queue_capture_files
from tests.conftest import ADMIN_PASSWORD, PCAPS, login
from tests.engine.test_decisions import shifted_capture


@pytest.fixture(scope="module")
def scorer():
    from appliance.engine.scoring import Scorer

    return Scorer.load()


def audit_actions(api, headers) -> list[dict]:
    return api.get("/settings/audit-log", params={"limit": 100}, headers=headers).json()["entries"]


def test_site_settings_show_defaults_and_change_only_what_is_given(api, admin_headers):
    view = api.get("/settings/site", headers=admin_headers).json()
    assert view["current"] == view["defaults"]
    assert view["defaults"]["internal_networks"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
    assert view["defaults"]["business_hours"]["timezone"] == "UTC"
    change = {"internal_networks": ["10.20.0.0/16"], "dns_resolvers": ["10.20.0.53"],
              "business_hours": {"start_hour": 7, "end_hour": 19, "weekdays": [0, 1, 2, 3, 4, 5],
                                 "timezone": "Europe/Berlin"}}
    changed = api.put("/settings/site", json=change, headers=admin_headers)
    assert changed.status_code == 200, changed.text
    current = changed.json()["current"]
    assert current["internal_networks"] == ["10.20.0.0/16"] and current["business_hours"]["timezone"] == "Europe/Berlin"
    assert current["known_dhcp_servers"] == []  # not given, not changed
    entry = next(e for e in audit_actions(api, admin_headers) if e["action"] == "settings.site_changed")
    assert entry["details"]["internal_networks"] == {"from": view["defaults"]["internal_networks"],
                                                     "to": ["10.20.0.0/16"]}
    assert set(entry["details"]) == {"internal_networks", "dns_resolvers", "business_hours"}


@pytest.mark.parametrize(("change", "why"), [
    ({"internal_networks": ["10.0.0.0/8", "not-a-net"]}, "internal_networks: not an IP address or CIDR: 'not-a-net'"),
    ({"known_dhcp_servers": ["10.0.0.0/24"]}, "known_dhcp_servers: not an IP address: '10.0.0.0/24'"),
    ({"business_hours": {"timezone": "Mars/Olympus"}}, "unknown time zone: 'Mars/Olympus'"),
    ({"business_hours": {"start_hour": 9, "end_hour": 30}}, "business hours must be within 0..24"),
    ({"colour": "blue"}, "colour"),
])
def test_a_bad_site_setting_is_refused_with_the_reason_and_nothing_changes(api, admin_headers, change, why):
    refused = api.put("/settings/site", json=change, headers=admin_headers)
    assert refused.status_code == 400 and why in refused.json()["detail"]
    view = api.get("/settings/site", headers=admin_headers).json()
    assert view["current"] == view["defaults"]


def test_rule_settings_show_value_default_and_where_it_comes_from(api, admin_headers):
    rules = api.get("/settings/rules", headers=admin_headers).json()
    assert rules["total"] == len(RULE_MODULES)
    scan = next(rule for rule in rules["rules"] if rule["rule_name"] == "PORT_SCAN")
    assert scan["defined_in"] == "appliance/engine/rules/port_scan.py"
    assert scan["severity"] == {"value": "HIGH", "default": "HIGH", "source": "rule default"}
    changed = api.put("/settings/rules/PORT_SCAN", json={"enabled": True, "severity": "MEDIUM",
                                                         "thresholds": {"min_ports": 40, "window_s": 300.0}},
                      headers=admin_headers)
    assert changed.status_code == 200, changed.text
    thresholds = {item["name"]: item for item in changed.json()["thresholds"]}
    assert thresholds["min_ports"] == {"name": "min_ports", "value": 40, "default": port_scan.DEFAULTS.min_ports,
                                       "source": "set on this box"}
    assert thresholds["window_s"]["source"] == "rule default"  # given, but equal to the default
    assert changed.json()["severity"] == {"value": "MEDIUM", "default": "HIGH", "source": "set on this box"}
    entry = next(e for e in audit_actions(api, admin_headers) if e["action"] == "settings.rule_changed")
    assert entry["target"] == "PORT_SCAN" and entry["details"]["to"]["thresholds"] == {"min_ports": 40}
    reset = api.delete("/settings/rules/PORT_SCAN", headers=admin_headers)
    assert reset.status_code == 200 and reset.json()["severity"]["source"] == "rule default"


@pytest.mark.parametrize(("path", "body", "status", "why"), [
    ("/settings/rules/PORT_SCAN", {"thresholds": {"min_portz": 3}}, 400, "unknown threshold 'min_portz'"),
    ("/settings/rules/PORT_SCAN", {"thresholds": {"min_ports": 0}}, 400, "invalid threshold override"),
    ("/settings/rules/PORT_SCAN", {"severity": "URGENT"}, 400, "unknown severity 'URGENT'"),
    ("/settings/rules/NO_SUCH_RULE", {"enabled": False}, 404, "no rule 'NO_SUCH_RULE'"),
])
def test_a_bad_rule_setting_is_refused_with_the_reason(api, admin_headers, path, body, status, why):
    refused = api.put(path, json=body, headers=admin_headers)
    assert refused.status_code == status and why in refused.json()["detail"]


def test_everyone_reads_the_settings_and_only_admins_change_them(api, store):
    users.create_user(store, "ana", ADMIN_PASSWORD, "analyst")
    analyst = login(api, "ana")
    assert api.get("/settings/site", headers=analyst).status_code == 200
    assert api.get("/settings/rules", headers=analyst).status_code == 200
    assert api.put("/settings/site", json={"dns_resolvers": []}, headers=analyst).status_code == 403
    assert api.put("/settings/rules/PORT_SCAN", json={"enabled": False}, headers=analyst).status_code == 403
    assert api.delete("/settings/rules/PORT_SCAN", headers=analyst).status_code == 403


def alerts(store) -> list[tuple[str, str]]:
    return [(row["rule_name"], row["severity"]) for row in store.query("SELECT rule_name, severity FROM alerts")]


def test_a_running_engine_follows_a_rule_change_without_a_restart(api, admin_headers, store, scorer, tmp_path):
    engine = Engine(store, scorer)  # running before the change
    assert api.put("/settings/rules/NETWORK_SWEEP", json={"enabled": False}, headers=admin_headers).status_code == 200
    queue_capture_files(store, [PCAPS / "arp-scan.pcap"], agent_id="local")
    engine.process_all()
    assert alerts(store) == []
    assert api.put("/settings/rules/NETWORK_SWEEP", json={"severity": "CRITICAL"},
                   headers=admin_headers).status_code == 200
    queue_capture_files(store, [shifted_capture(PCAPS / "arp-scan.pcap", tmp_path / "later.pcap", 86400)],
                        agent_id="local")
    engine.process_all()
    assert alerts(store) == [("NETWORK_SWEEP", "CRITICAL")]
    actions = [entry["action"] for entry in audit_actions(api, admin_headers)]
    assert actions.count("engine.settings_applied") == 2
    Engine(store, scorer)  # a restart right after continues from the checkpoint made with the new settings
    assert "engine.checkpoint_discarded" not in [entry["action"] for entry in audit_actions(api, admin_headers)]


def test_a_running_engine_follows_a_site_change_without_a_restart(api, admin_headers, store, scorer, tmp_path):
    engine = Engine(store, scorer)
    queue_capture_files(store, [PCAPS / "dnp3-write.pcap"], agent_id="local")
    engine.process_all()
    assert alerts(store) == [("OT_UNAUTHORIZED_WRITE", "CRITICAL")]
    writer = store.query_one("SELECT source_ip FROM alerts")["source_ip"]
    assert api.put("/settings/site", json={"allowed_ot_writers": [writer]}, headers=admin_headers).status_code == 200
    queue_capture_files(store, [shifted_capture(PCAPS / "dnp3-write.pcap", tmp_path / "later.pcap", 86400)],
                        agent_id="local")
    engine.process_all()
    assert store.query_one("SELECT count(*) AS n FROM alerts")["n"] == 1  # the allowed writer's next write: no alert
    assert engine.settings.site.allowed_ot_writers == [writer]


def test_settings_that_cannot_be_read_keep_the_running_ones_and_are_reported(store, scorer):
    engine = Engine(store, scorer)
    store.set_setting("engine", {"site": {"internal_networks": ["nonsense"]}})
    assert engine.follow_settings() is False
    assert engine.settings.site.internal_networks[0] == "10.0.0.0/8"
    reported = store.query("SELECT action, details FROM audit_log WHERE action = 'engine.settings_refused'")
    assert len(reported) == 1 and "nonsense" in reported[0]["details"]
    assert engine.follow_settings() is False  # reported once, not at every look
    assert len(store.query("SELECT 1 FROM audit_log WHERE action = 'engine.settings_refused'")) == 1


def test_the_cli_shows_and_changes_settings_audited_as_the_console_user(store, data_dir, capsys):
    root = str(data_dir.root)
    assert appliance(["settings", "site", "--data-dir", root, "--timezone", "Europe/Vienna", "--business-hours", "7-17",
                      "--dhcp-servers", "10.0.0.1", "--ot-writers"]) == 0
    assert appliance(["settings", "rule", "PORT_SCAN", "--data-dir", root, "--disable", "--threshold", "min_ports=30",
                      "--severity", "low"]) == 0
    capsys.readouterr()
    assert appliance(["settings", "show", "--data-dir", root]) == 0
    shown = json.loads(capsys.readouterr().out)
    site = shown["site"]["current"]
    assert site["business_hours"]["timezone"] == "Europe/Vienna" and site["business_hours"]["start_hour"] == 7
    assert site["known_dhcp_servers"] == ["10.0.0.1"] and site["allowed_ot_writers"] == []
    scan = next(rule for rule in shown["rules"] if rule["rule_name"] == "PORT_SCAN")
    assert scan["enabled"]["value"] is False and scan["severity"]["value"] == "LOW"
    assert appliance(["settings", "rule", "PORT_SCAN", "--data-dir", root, "--threshold", "min_ports=default"]) == 0
    assert appliance(["settings", "site", "--data-dir", root, "--timezone", "Nowhere/Special"]) == 1
    assert "unknown time zone: 'Nowhere/Special'" in capsys.readouterr().err
    assert appliance(["settings", "rule", "PORT_SCAN", "--data-dir", root, "--threshold", "min_ports=zero"]) == 1
    assert "invalid threshold override" in capsys.readouterr().err
    entries = store.query("SELECT username, action FROM audit_log WHERE action LIKE 'settings.%'")
    assert [entry["action"] for entry in entries] == ["settings.site_changed", "settings.rule_changed",
                                                      "settings.rule_changed"]
    assert all(entry["username"].startswith("cli:") for entry in entries)


def test_a_configured_resolver_is_one_from_the_first_packet():
    from appliance.engine.baseline import Baseline
    from appliance.engine.network import SiteConfig

    assert not Baseline(SiteConfig()).is_resolver("10.0.0.53")
    assert Baseline(SiteConfig(dns_resolvers=["10.0.0.53"])).is_resolver("10.0.0.53")


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"the engine never got to: {what}"
        time.sleep(0.05)


def all_batches_done(store) -> bool:
    return store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 0")["n"] == 0


@pytest.mark.e2e
def test_the_engine_process_follows_a_change_made_through_the_api_while_it_runs(api, admin_headers, store, data_dir,
                                                                                tmp_path):
    engine = subprocess.Popen(
        [sys.executable, "-m", "appliance", "engine", "--data-dir", str(data_dir.root), "--poll-interval", "0.05"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        queue_capture_files(store, [PCAPS / "arp-scan.pcap"], agent_id="local")
        wait_for(lambda: alerts(store) == [("NETWORK_SWEEP", "HIGH")], "the sweep's alert")
        first = store.query_one("SELECT * FROM alerts")
        disabled = api.put("/settings/rules/NETWORK_SWEEP", json={"enabled": False}, headers=admin_headers)
        assert disabled.status_code == 200
        wait_for(lambda: store.query("SELECT 1 FROM audit_log WHERE action = 'engine.settings_applied'"),
                 "the new settings")
        queue_capture_files(store, [shifted_capture(PCAPS / "arp-scan.pcap", tmp_path / "later.pcap", 86400)],
                            agent_id="local")
        wait_for(lambda: all_batches_done(store), "the next day's batches")
        assert store.query("SELECT * FROM alerts") == [first]  # the disabled rule said nothing
        assert engine.poll() is None  # the same process all along, never restarted
    finally:
        engine.terminate()
        _, errors = engine.communicate(timeout=60)
    assert engine.returncode == 0, errors.decode()


def test_the_baseline_says_whether_the_box_learns_and_which_routines_it_learned(api, admin_headers, store):
    from appliance.engine.network import SiteConfig
    from appliance.engine.rules import RuleSet
    from tests.engine_rules.conftest import T0, only, probe

    assert api.get("/settings/baseline", headers=admin_headers).json() == {
        "learning_started_at": None, "learning_until": None, "finished": False, "devices": 0, "routines": []}
    rules = RuleSet(only("PORT_SCAN"), SiteConfig(learning_period_s=600))
    for port in range(20):  # the inventory scanner at work while the box learns
        rules.on_flow(probe(port, ts=T0 + port))
    rules.advance(T0 + 3600)
    store.execute("INSERT INTO engine_state (key, value) VALUES ('baseline', ?)", (rules.baseline.to_bytes(),))
    summary = api.get("/settings/baseline", headers=admin_headers).json()
    assert summary["finished"] and summary["learning_until"] == T0 + 600
    assert summary["routines"] == ["PORT_SCAN|10.0.0.5"]
    store.execute("UPDATE engine_state SET value = ? WHERE key = 'baseline'", (b"\xc1 not msgpack",))
    broken = api.get("/settings/baseline", headers=admin_headers)
    assert broken.status_code == 409 and "malformed" in broken.json()["detail"]
