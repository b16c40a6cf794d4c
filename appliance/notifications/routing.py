"""Which channel gets which alert, and when: routing, quiet hours, storm folding."""

from __future__ import annotations

import datetime
import re
import zoneinfo

from appliance.notifications.models import QuietHours, Routing

SEVERITY_RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}


def in_quiet_hours(quiet: QuietHours | None, now: float) -> bool:
    if quiet is None:
        return False
    local = datetime.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(quiet.timezone))
    minute = local.hour * 60 + local.minute
    start, end = (_minutes(text) for text in (quiet.start, quiet.end))
    return start <= minute < end if start < end else (minute >= start or minute < end)


def _minutes(clock: str) -> int:
    hours, minutes = re.fullmatch(r"(\d\d):(\d\d)", clock).groups()
    return int(hours) * 60 + int(minutes)


def severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[minimum]


def routes(routing: Routing, *, severity: str, rule_name: str, agent_id: str | None) -> bool:
    """Does this channel want this alert at all (quiet hours and digests decide only when)?"""
    return (
        severity_at_least(severity, routing.min_severity)
        and (not routing.rules or rule_name in routing.rules)
        and (not routing.sensors or agent_id in routing.sensors)
    )


def lets_through(quiet: QuietHours | None, severity: str) -> bool:
    """Does an alert of this severity go out during the quiet hours anyway?"""
    return quiet is not None and quiet.let_through is not None and severity_at_least(severity, quiet.let_through)
