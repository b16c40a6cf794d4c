"""The plan decides which rules raise alerts; an expired license never switches detection off."""

from __future__ import annotations

import time

import pytest

from appliance.cli.engine_commands import licensed_rules
from appliance.engine.process import Engine
from appliance.ingest.local_sensor import queue_capture_files
from appliance.licensing import box_license
from appliance.licensing.plans import PLAN_FEATURES
from tests.agents.licensed_box import trusted_vendor  # noqa: F401  (fixture)
from tests.conftest import PCAPS
from tests.licensing.conftest import make_license, vendor_key  # noqa: F401  (fixtures)

DAY = 86_400


def run_engine(store, scorer, capture):
    queue_capture_files(store, [capture])
    Engine(store, scorer, rule_allowed=licensed_rules(store)).process_all()
    return {row["outcome"] for row in store.query("SELECT outcome FROM decision_traces")}


@pytest.mark.parametrize("plan, outcomes", [
    ("starter", {"rule_not_licensed"}), ("enterprise", {"alert_raised", "alert_updated"}),
])
def test_ot_detections_follow_the_plan(store, scorer, make_license, trusted_vendor, plan, outcomes):  # noqa: F811
    now = int(time.time())
    _, key = make_license(plan=plan, features=PLAN_FEATURES[plan], issued_at=now - DAY, expires_at=now + DAY)
    box_license.install(store, key, box_license.trusted_keys())
    assert run_engine(store, scorer, PCAPS / "modbus.pcap") == outcomes


def test_an_expired_license_keeps_detecting(store, scorer, make_license, trusted_vendor):  # noqa: F811
    long_ago = int(time.time()) - 400 * DAY
    _, key = make_license(issued_at=long_ago, expires_at=long_ago + 30 * DAY)
    box_license.install(store, key, box_license.trusted_keys())
    assert run_engine(store, scorer, PCAPS / "kerberoast.pcap") == {"alert_raised"}
