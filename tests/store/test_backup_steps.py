"""The online backup copies in steps, so that its progress shows (appliance/store/lifecycle.py `copy_pages`),
and stays one snapshot: what the running box commits while it copies is not in it, and does not restart it."""

from __future__ import annotations

from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store

FILLER_ROWS = 600  # about 2.4 MB: several BACKUP_STEP_PAGES steps


def test_a_backup_is_the_snapshot_it_started_from_while_the_box_writes(data_dir, tmp_path):
    key = lifecycle.create_database(data_dir)
    box = Store(data_dir, key)
    for row in range(FILLER_ROWS):
        box.set_setting(f"filler-{row}", "x" * 4000)
    reports = []

    def progress(stage, done, total, unit):
        reports.append((stage, done, total, unit))
        if stage == "copying pages" and len(reports) < 10:  # the engine commits between two steps
            box.set_setting(f"written-during-backup-{len(reports)}", done)

    lifecycle.backup(data_dir, key, tmp_path / "box.backup", progress)
    box.close()
    copied = [report for report in reports if report[0] == "copying pages"]
    pages = copied[-1][2]
    assert len(copied) >= 3 and copied[-1] == ("copying pages", pages, pages, "pages")
    assert [done for _, done, _, _ in copied] == sorted(done for _, done, _, _ in copied)  # never restarted
    assert reports[-1][0] == "writing the backup file" and reports[-1][1] == reports[-1][2]

    other = DataDirectory.at(tmp_path / "other")
    other_key = lifecycle.create_database(other)
    lifecycle.restore(other, other_key, tmp_path / "box.backup", key)
    restored = Store(other, other_key)
    try:
        names = [row["key"] for row in restored.query("SELECT key FROM settings WHERE key LIKE '%-%'")]
    finally:
        restored.close()
    assert sorted(names) == sorted(f"filler-{row}" for row in range(FILLER_ROWS))
