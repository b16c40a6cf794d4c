"""Deadlines come from the data files: shipped NIS2/GDPR rules, a box-local copy, member-state overrides."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources

import pytest

from appliance.compliance.regimes import (
    LOCAL_RULES_DIRECTORY,
    RegimeDataError,
    add_months,
    load_regime,
    stage_deadlines,
)

AWARE = datetime(2026, 1, 31, 9, 30, tzinfo=UTC).timestamp()
HOUR = 3600


def deadlines_by_stage(regime, **kwargs):
    arguments = {"aware_at": AWARE, "submissions": {}, "requested_at": None, "ongoing": True, "now": AWARE + 60}
    return {deadline.stage: deadline for deadline in stage_deadlines(regime, **(arguments | kwargs))}


def copy_rules(tmp_path, name: str, edit) -> None:
    """A box-local copy of a shipped rules file, changed by `edit(data)`."""
    data = json.loads((resources.files("appliance.compliance.rules") / f"{name}.json").read_text())
    edit(data)
    local = tmp_path / LOCAL_RULES_DIRECTORY
    local.mkdir(exist_ok=True)
    (local / f"{name}.json").write_text(json.dumps(data))


def stage_data(data: dict, stage_id: str) -> dict:
    return next(stage for stage in data["stages"] if stage["id"] == stage_id)


def test_nis2_stage_deadlines_follow_article_23():
    deadlines = deadlines_by_stage(load_regime("nis2"))
    assert deadlines["early_warning"].due_at == AWARE + 24 * HOUR
    assert deadlines["notification"].due_at == AWARE + 72 * HOUR
    assert deadlines["intermediate"].due_at is None and deadlines["intermediate"].state == "on_request"
    # one calendar month after the notification's deadline (not yet sent): 3 Feb -> 3 Mar
    assert deadlines["final"].due_at == datetime(2026, 3, 3, 9, 30, tzinfo=UTC).timestamp()
    assert deadlines["progress"].due_at == deadlines["final"].due_at
    assert {d.state for d in deadlines.values()} == {"pending", "on_request"}


def test_final_report_counts_from_the_notification_actually_sent_and_flags_lateness():
    sent = AWARE + 80 * HOUR  # 8 h after the 72 h deadline
    deadlines = deadlines_by_stage(load_regime("nis2"),
                                   submissions={"notification": sent, "early_warning": AWARE + HOUR},
                                   now=AWARE + 5 * 86400)
    assert deadlines["notification"].state == "submitted" and deadlines["notification"].late
    assert deadlines["early_warning"].state == "submitted" and not deadlines["early_warning"].late
    assert deadlines["final"].due_at == add_months(sent, 1)


def test_overdue_and_on_request_stages():
    deadlines = deadlines_by_stage(load_regime("nis2"), requested_at=AWARE + 10 * HOUR, now=AWARE + 30 * HOUR)
    assert deadlines["early_warning"].overdue and deadlines["early_warning"].state == "overdue"
    assert not deadlines["notification"].overdue
    assert deadlines["intermediate"].due_at == AWARE + 10 * HOUR


def test_progress_report_only_while_the_incident_is_ongoing():
    assert deadlines_by_stage(load_regime("nis2"), ongoing=False)["progress"].state == "not_applicable"


def test_month_arithmetic_clamps_to_the_end_of_the_month():
    assert add_months(AWARE, 1) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC).timestamp()
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC).timestamp(), 1) == \
        datetime(2027, 1, 15, tzinfo=UTC).timestamp()


def test_a_changed_data_file_moves_the_deadlines(tmp_path):
    """The EU may change 72 h to 96 h: a local copy of the data file is all it takes."""
    copy_rules(tmp_path, "nis2", lambda data: stage_data(data, "notification")["due"].update(hours=96))
    copy_rules(tmp_path, "gdpr", lambda data: stage_data(data, "notification")["due"].update(hours=96))
    deadlines = deadlines_by_stage(load_regime("nis2", tmp_path))
    assert deadlines["notification"].due_at == AWARE + 96 * HOUR
    assert deadlines["notification"].basis == "96 h after awareness"
    assert deadlines["final"].due_at == add_months(AWARE + 96 * HOUR, 1)
    assert load_regime("gdpr", tmp_path).stage("notification").due.hours == 96
    assert deadlines_by_stage(load_regime("nis2"))["notification"].due_at == AWARE + 72 * HOUR  # shipped file intact


def test_member_state_override_changes_deadline_and_recipient(tmp_path):
    def national(data):
        data["member_states"]["DE"] = {"name": "Germany", "recipient": "BSI",
                                       "stages": {"early_warning": {"hours": 12}}}

    copy_rules(tmp_path, "nis2", national)
    german = load_regime("nis2", tmp_path, "DE")
    assert german.recipient == "BSI"
    assert deadlines_by_stage(german)["early_warning"].due_at == AWARE + 12 * HOUR
    assert deadlines_by_stage(load_regime("nis2", tmp_path, "FR"))["early_warning"].due_at == AWARE + 24 * HOUR


def test_a_broken_data_file_is_a_clear_error(tmp_path):
    copy_rules(tmp_path, "nis2", lambda data: stage_data(data, "notification")["due"].update(hours="soon"))
    with pytest.raises(RegimeDataError, match=r"nis2\.json"):
        load_regime("nis2", tmp_path)


def test_gdpr_lists_every_article_33_3_item():
    items = [item.id for item in load_regime("gdpr").stage("notification").items]
    assert items[:4] == ["nature", "dpo_contact", "likely_consequences", "measures"]
