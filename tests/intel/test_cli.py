"""`appliance intel ...` from the box's shell over a real encrypted data directory: the CLI's own entry point
in-process (a new interpreter costs seconds each), and as a real process for an import and a refused one."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from appliance.cli.main import main
from appliance.intel import repository
from tests.intel.feeds import FEODO_CSV, misp_event, stix_bundle, stix_indicator


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def intel(capsys):
    def run(data_dir, *args) -> Ran:
        returncode = main(["intel", *args, "--data-dir", str(data_dir.root)])
        captured = capsys.readouterr()
        return Ran(returncode, captured.out, captured.err)

    return run


def in_a_process(data_dir, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", "intel", *args, "--data-dir", str(data_dir.root)],
                          capture_output=True, text=True, timeout=60)


def refused(result: Ran | subprocess.CompletedProcess, says: str) -> None:
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr and "Traceback" not in result.stderr


def test_import_files_search_disable_and_allow(store, data_dir, tmp_path, intel):
    bundle = tmp_path / "apt.json"
    bundle.write_bytes(stix_bundle(stix_indicator("[ipv4-addr:value = '198.51.100.23']", confidence=85),
                                   stix_indicator("[domain-name:value = 'c2.bad.example']")))
    done = in_a_process(data_dir, "import", str(bundle), "--name", "apt report", "--expiry-days", "30")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("apt report: 2 indicators read, 2 new, 2 in this source, 0 entries refused")
    assert "searches the flow log for the 2 new ones" in done.stdout
    csv = tmp_path / "ipblocklist.csv"
    csv.write_bytes(FEODO_CSV)
    done = intel(data_dir, "import", str(csv))
    assert done.returncode == 0 and "ipblocklist.csv: 2 indicators read" in done.stdout
    assert "refused: line 8: no indicator" in done.stdout

    sources = {source["name"]: source for source in json.loads(intel(data_dir, "sources").stdout)}
    assert sources["apt report"]["indicator_count"] == 2 and sources["apt report"]["format"] == "stix"
    assert sources["apt report"]["retro_hunt"]["state"] == "waiting"  # no engine has taken the indicators yet
    assert sources["ipblocklist.csv"]["last_refused"] == 1 and sources["ipblocklist.csv"]["last_result"] == "ok"

    found = json.loads(intel(data_dir, "search", "www.c2.bad.example").stdout)
    assert found["matches"] and [(row["source"], row["value"]) for row in found["found"]] == [
        ("apt report", "c2.bad.example")]
    listed = json.loads(intel(data_dir, "indicators", "--source", "apt report", "--kind", "ip").stdout)
    assert listed["total"] == 1 and listed["indicators"][0]["confidence"] == 85
    assert listed["indicators"][0]["expires_at"] == listed["indicators"][0]["last_seen"] + 30 * 86400

    assert intel(data_dir, "disable", "apt report").stdout == "apt report disabled\n"
    assert not json.loads(intel(data_dir, "search", "c2.bad.example").stdout)["matches"]
    assert intel(data_dir, "enable", "apt report").returncode == 0
    assert intel(data_dir, "allow", "C2.Bad.Example.", "--comment", "sinkholed").returncode == 0
    found = json.loads(intel(data_dir, "search", "c2.bad.example").stdout)
    assert not found["matches"] and found["overruled_by"] == "allowlist"

    actions = [row["action"] for row in store.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("threat_intel.imported") == 2 and "threat_intel.allowed" in actions
    assert "threat_intel.source_changed" in actions


def test_bad_input_is_one_line_and_loses_nothing(store, data_dir, tmp_path, intel):
    good = tmp_path / "event.json"
    good.write_bytes(misp_event([{"type": "ip-dst", "value": "203.0.113.80", "to_ids": True}]))
    assert intel(data_dir, "import", str(good), "--name", "misp").returncode == 0
    page = tmp_path / "event.html"
    page.write_text("<html><title>502 Bad Gateway</title></html>")

    refused(in_a_process(data_dir, "import", str(page), "--name", "misp"), f"{page}: not JSON")
    refused(intel(data_dir, "import", str(page), "--name", "misp", "--format", "list"), "was imported as misp")
    refused(intel(data_dir, "import", str(tmp_path / "missing.json")), "cannot read")
    refused(intel(data_dir, "import", str(good), "--confidence", "101"), "--confidence must be 0..100")
    refused(intel(data_dir, "indicators", "--kind", "email"), "--kind must be one of")
    refused(intel(data_dir, "disable", "nope"), "no threat-intel source 'nope'")
    refused(intel(data_dir, "allow", "not a domain!"), "is not an address, a CIDR or a domain")
    refused(intel(data_dir, "add-feed", "--name", "x", "--kind", "https_list", "--url", "http://192.0.2.1/list"),
            "is not an https:// URL")
    refused(intel(data_dir, "add-feed", "--name", "x", "--kind", "taxii", "--url", "https://192.0.2.1/api/"),
            "a TAXII feed needs the collection id")
    refused(intel(data_dir.__class__.at(tmp_path / "empty"), "sources"), "run `appliance init` first")

    source = repository.get_source(store, "misp")
    assert source.indicator_count == 1 and source.last_result == "error" and "not JSON" in source.last_error
