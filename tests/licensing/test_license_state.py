"""License state across expiry and grace (injected `now`), and what each state gates."""

import pytest

from appliance.licensing.state import (
    DAY,
    can_generate_report,
    can_register_sensor,
    license_state,
    renewal_hint,
    rule_allowed,
)
from tests.licensing.conftest import NOW

EXPIRES = NOW + 100 * DAY


@pytest.mark.parametrize(
    ("now", "status", "days_left", "grace_days_left"),
    [
        (NOW, "valid", 100, 14),
        (EXPIRES - 30 * DAY - 1, "valid", 30, 14),
        (EXPIRES - 30 * DAY, "expiring_soon", 30, 14),
        (EXPIRES - 1, "expiring_soon", 0, 14),
        (EXPIRES, "grace", 0, 14),
        (EXPIRES + DAY // 2, "grace", -1, 13),
        (EXPIRES + 14 * DAY - 1, "grace", -14, 0),
        (EXPIRES + 14 * DAY, "locked", -14, 0),
        (EXPIRES + 400 * DAY, "locked", -400, 0),
    ],
)
def test_status_timeline(make_license, now, status, days_left, grace_days_left):
    license, _ = make_license(expires_at=EXPIRES)
    state = license_state(license, now)
    assert (state.status, state.days_left, state.grace_days_left) == (status, days_left, grace_days_left)
    assert state.locks_at == EXPIRES + 14 * DAY


def test_grace_and_warning_windows_are_parameters(make_license):
    license, _ = make_license(expires_at=EXPIRES)
    assert license_state(license, EXPIRES + 2 * DAY, grace_days=1).status == "locked"
    assert license_state(license, EXPIRES - 50 * DAY, warn_days=60).status == "expiring_soon"


@pytest.mark.parametrize("now", [NOW, EXPIRES + 13 * DAY])
def test_sensors_register_up_to_the_cap_until_locked(make_license, now):
    license, _ = make_license(expires_at=EXPIRES, max_sensors=3)
    state = license_state(license, now)
    assert can_register_sensor(state, 2).allowed
    full = can_register_sensor(state, 3)
    assert (full.allowed, full.reason) == (False, "sensor_limit")
    assert "3 sensors" in full.detail


def test_locked_license_refuses_new_sensors_and_reports_with_a_hint(make_license):
    license, _ = make_license(expires_at=EXPIRES)
    state = license_state(license, EXPIRES + 15 * DAY)
    for gate in (can_register_sensor(state, 0), can_generate_report(state)):
        assert (gate.allowed, gate.reason) == (False, "license_locked")
        assert "Renew" in gate.detail and "detection" in gate.detail


def test_reports_need_the_reports_feature(make_license):
    license, _ = make_license(features=("siem_export",))
    gate = can_generate_report(license_state(license, NOW))
    assert (gate.allowed, gate.reason) == (False, "feature_missing")
    with_reports, _ = make_license(features=("reports",))
    assert can_generate_report(license_state(with_reports, NOW)).allowed


def test_reports_still_allowed_during_grace(make_license):
    license, _ = make_license(expires_at=EXPIRES)
    assert can_generate_report(license_state(license, EXPIRES + 13 * DAY)).allowed


def test_ot_rule_needs_ot_detections_and_other_rules_are_in_every_plan(make_license):
    starter, _ = make_license(plan="starter", features=("reports",))
    enterprise, _ = make_license(plan="enterprise", features=("reports", "ot_detections"))
    assert not rule_allowed(starter, "OT_UNAUTHORIZED_WRITE")
    assert rule_allowed(enterprise, "OT_UNAUTHORIZED_WRITE")
    assert rule_allowed(starter, "PORT_SCAN") and rule_allowed(starter, "C2_BEACON")


def test_expiry_never_switches_a_detection_rule_off(make_license):
    license, _ = make_license(expires_at=EXPIRES, features=("ot_detections",))
    assert license_state(license, EXPIRES + 999 * DAY).status == "locked"
    assert rule_allowed(license, "OT_UNAUTHORIZED_WRITE") and rule_allowed(license, "DNS_TUNNELING")


@pytest.mark.parametrize(
    ("now", "phrase"),
    [
        (NOW, "valid for 100 more days"),
        (EXPIRES - 5 * DAY, "expires in 5 days"),
        (EXPIRES + DAY, "in 13 days new sensors and reports will be locked"),
        (EXPIRES + 20 * DAY, "are locked (detection, alerts and the GDPR export keep working)"),
    ],
)
def test_renewal_hint_says_what_happens_next(make_license, now, phrase):
    license, _ = make_license(expires_at=EXPIRES)
    assert phrase in renewal_hint(license_state(license, now))
