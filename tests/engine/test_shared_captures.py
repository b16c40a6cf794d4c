"""Every public capture raises exactly what the manifest expects, and the benign ones raise nothing."""

from __future__ import annotations

import pytest

from tests.conftest import PCAPS
from tests.real_traffic.captures import SHARED_EXPECTED

EXPECTED = {name: {(rule, source) for rule, source, _ in alerts} for name, alerts in SHARED_EXPECTED.items()}


@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_capture_raises_its_expected_alerts_only(capture, analyse, store):
    analyse(PCAPS / capture)
    alerts = store.query("SELECT rule_name, source_ip, score, shap_json, trace_id FROM alerts")
    assert {(a["rule_name"], a["source_ip"]) for a in alerts} == EXPECTED[capture]
    # One incident, one alert: however many packets the attack took.
    assert len(alerts) == len(EXPECTED[capture])
    for alert in alerts:
        assert 0.0 <= alert["score"] <= 1.0 and alert["trace_id"]
        assert '"base_value"' in alert["shap_json"] and '"model_version"' in alert["shap_json"]


def test_every_capture_in_the_manifest_is_covered():
    assert {path.name for path in PCAPS.glob("*.pcap")} == set(EXPECTED)
