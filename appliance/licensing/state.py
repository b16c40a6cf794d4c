"""What a license allows right now, and what stops when it runs out.

The promise to the customer, enforced by keeping the gates here few and explicit:

- Detection NEVER stops because of a license: capture, rules, the model, alerts and traces keep running
  whatever the license status. There is deliberately no "can detect" gate. `rule_allowed` depends on the
  plan's features only, never on expiry.
- Alerts, traces and proof trails stay readable, and the GDPR data export (``GET /tenant/export``) always
  works, locked or not.
- Only once a license is ``locked`` (expired AND past the grace period) do registering NEW sensors and
  generating reports answer 423 Locked, until a renewed key is loaded.

Status timeline (``warn_days`` and ``grace_days`` are parameters)::

    issued ... valid ... | expiring_soon (last warn_days) | expires_at | grace (grace_days) | locked ...

The gates return a `Gate` instead of a bare bool so the API can answer with the right status and detail:
``license_locked`` -> 423, ``sensor_limit`` / ``feature_missing`` -> 403.
"""

from typing import Literal

import msgspec

from appliance.licensing.keys import License
from appliance.licensing.plans import OT_DETECTIONS, REPORTS, SIEM_EXPORT

DAY = 86_400
DEFAULT_GRACE_DAYS = 14
DEFAULT_WARN_DAYS = 30

Status = Literal["valid", "expiring_soon", "grace", "locked"]

# Rules that only run when the license carries a feature. Every rule not listed here is in every plan.
RULE_FEATURES: dict[str, str] = {"OT_UNAUTHORIZED_WRITE": OT_DETECTIONS}


class LicenseState(msgspec.Struct, frozen=True):
    """A license seen at one instant."""

    license: License
    status: Status
    days_left: int
    """Whole days until ``expires_at``; 0 on the last day, negative once expired."""
    locks_at: int
    """Unix time when the grace period ends and the license becomes ``locked``."""
    grace_days_left: int
    """Whole days until ``locks_at``, at most ``grace_days`` (so before expiry: all of them); 0 once locked."""


class Gate(msgspec.Struct, frozen=True):
    allowed: bool
    reason: Literal["ok", "license_locked", "sensor_limit", "feature_missing"]
    detail: str


_OK = Gate(True, "ok", "")


def license_state(
    license: License, now: float, grace_days: int = DEFAULT_GRACE_DAYS, warn_days: int = DEFAULT_WARN_DAYS
) -> LicenseState:
    locks_at = license.expires_at + grace_days * DAY
    if now >= locks_at:
        status: Status = "locked"
    elif now >= license.expires_at:
        status = "grace"
    elif now >= license.expires_at - warn_days * DAY:
        status = "expiring_soon"
    else:
        status = "valid"
    return LicenseState(
        license=license,
        status=status,
        days_left=int((license.expires_at - now) // DAY),
        locks_at=locks_at,
        grace_days_left=max(0, min(grace_days, int((locks_at - now) // DAY))),
    )


def can_register_sensor(state: LicenseState, current_count: int) -> Gate:
    """May ONE MORE sensor register? ``current_count`` is the sensors already registered.

    Call it only for an agent_id the box has not seen: sensors already registered keep authenticating
    whatever the license says, because detection never stops.
    """
    if state.status == "locked":
        return _locked_gate(state, "registering new sensors")
    if current_count >= state.license.max_sensors:
        return Gate(
            False,
            "sensor_limit",
            f"the license allows {state.license.max_sensors} sensors and {current_count} are registered; "
            "remove a sensor or upgrade the plan",
        )
    return _OK


def can_generate_report(state: LicenseState) -> Gate:
    """NIS2 / GDPR PDF reports. (The GDPR data export is not a report: it always works.)"""
    if state.status == "locked":
        return _locked_gate(state, "generating reports")
    if not has_feature(state.license, REPORTS):
        return Gate(False, "feature_missing", f"the {state.license.plan} plan does not include reports")
    return _OK


def can_export_siem(state: LicenseState) -> Gate:
    """The SIEM export (pull API and syslog streams), like reports: the plan's feature, locked after grace.
    Detection and the alerts themselves never depend on it; a stream that stops resumes from its cursor."""
    if state.status == "locked":
        return _locked_gate(state, "the SIEM export")
    if not has_feature(state.license, SIEM_EXPORT):
        return Gate(False, "feature_missing", f"the {state.license.plan} plan does not include the SIEM export "
                                              f"({SIEM_EXPORT})")
    return _OK


def has_feature(license: License, feature: str) -> bool:
    """Plan features (see `plans`), e.g. ``has_feature(license, SIEM_EXPORT)`` before a SIEM export."""
    return feature in license.features


def rule_allowed(license: License, rule_name: str) -> bool:
    """Does the plan include this detection rule? Expiry plays no part: detection never stops."""
    feature = RULE_FEATURES.get(rule_name)
    return feature is None or has_feature(license, feature)


def renewal_hint(state: LicenseState) -> str:
    """One sentence for the admin about what to do next."""
    license = state.license
    match state.status:
        case "valid":
            return f"License {license.license_id} ({license.plan}) is valid for {state.days_left} more days."
        case "expiring_soon":
            return (
                f"License {license.license_id} expires in {state.days_left} days: renew under Billing, or "
                "load a renewed license file. Detection continues after expiry."
            )
        case "grace":
            return (
                f"License {license.license_id} has expired. Detection continues; in {state.grace_days_left} "
                "days new sensors and reports will be locked until you renew under Billing or load a renewed "
                "license file."
            )
        case "locked":
            return (
                f"License {license.license_id} expired and its grace period is over: new sensors and reports "
                "are locked (detection, alerts and the GDPR export keep working). Renew under Billing or load "
                "a renewed license file."
            )


def _locked_gate(state: LicenseState, what: str) -> Gate:
    return Gate(False, "license_locked", f"{what} is locked: {renewal_hint(state)}")
