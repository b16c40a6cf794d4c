"""NIS2 readiness: eight checks built on Art.21(2)(a)-(j), each with the evidence this box actually holds.

Readiness evidence only: no tool can establish that an entity complies with NIS2.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from appliance.audit.log import verify_chain
from appliance.compliance.settings import ComplianceSettings
from appliance.store.database import Store
from sensor.records import CaptureStats

SENSOR_SILENT_AFTER_S = 15 * 60
STATS_WINDOW_S = 24 * 3600
STATS_BATCHES = 500                    # the newest batches' capture counters are enough evidence
MAX_DROP_RATIO = 0.001
BACKUP_MAX_AGE_S = 7 * 24 * 3600
LAST_BACKUP_SETTING = "last_backup_at"  # epoch seconds, written when `appliance backup` succeeds
SQLITE_PLAINTEXT_HEADER = b"SQLite format 3\x00"

DISCLAIMER = ("Readiness evidence gathered by this appliance for NIS2 Art.21(2). It does not establish "
              "compliance: that is for the entity's management body and the competent authority to assess.")


class Check(msgspec.Struct):
    id: str
    title: str
    article: str
    passed: bool
    evidence: str
    remediation: str  # empty when passed


class ReadinessStatus(msgspec.Struct):
    checks: list[Check]
    passed: int
    total: int
    score: int        # percent of checks passed
    generated_at: float
    disclaimer: str = DISCLAIMER


class BatchCounters(msgspec.Struct):
    stats: CaptureStats = msgspec.field(default_factory=CaptureStats)


def monitoring_coverage(store: Store, settings: ComplianceSettings, now: float) -> Check:
    sensors = store.query("SELECT agent_id, last_seen FROM agents WHERE revoked = 0")
    reporting = [sensor for sensor in sensors if now - sensor["last_seen"] <= SENSOR_SILENT_AFTER_S]
    packets = drops = 0
    for row in store.query("SELECT payload FROM ingest_batches WHERE received_at >= ? ORDER BY id DESC LIMIT ?",
                           (now - STATS_WINDOW_S, STATS_BATCHES)):
        try:
            stats = msgspec.msgpack.decode(row["payload"], type=BatchCounters).stats
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # the engine rejects such a batch itself; it is no evidence either way
        packets += stats.packets
        drops += stats.kernel_drops
    ratio = drops / (packets + drops) if packets + drops else 0.0
    passed = bool(reporting) and ratio <= MAX_DROP_RATIO
    evidence = (f"{len(reporting)} of {len(sensors)} registered sensors reported in the last "
                f"{SENSOR_SILENT_AFTER_S // 60} min; last 24 h: {packets:,} packets captured, {drops:,} kernel drops "
                f"({ratio:.3%})")
    if not sensors:
        remediation = "Register a sensor on a mirror/SPAN port of each network segment to be monitored."
    elif not reporting:
        remediation = "No sensor is reporting: check the sensors' service and their connection to the box."
    else:
        remediation = "" if passed else (f"Kernel drops above {MAX_DROP_RATIO:.1%}: give the sensor a dedicated core "
                                         "or a narrower capture filter.")
    return Check("monitoring_coverage", "Network monitoring coverage and capture loss",
                 "Art. 21(2)(b) incident handling", passed, evidence, remediation)


def incident_response(store: Store, settings: ComplianceSettings, now: float) -> Check:
    incidents = store.query_one("SELECT count(*) AS n FROM incidents")["n"]
    missing = [label for label, value in (("CSIRT contact", settings.csirt_contact),
                                          ("incident-response plan reference", settings.irp_reference)) if not value]
    evidence = (f"CSIRT contact: {settings.csirt_contact or 'not configured'}; incident-response plan: "
                f"{settings.irp_reference or 'not referenced'}; {incidents} incident(s) in the register")
    remediation = f"Configure the {' and '.join(missing)} under PUT /compliance/settings." if missing else ""
    return Check("incident_response", "Incident-response plan and CSIRT contact",
                 "Art. 21(2)(b) incident handling; Art. 23 reporting", not missing, evidence, remediation)


def backups(store: Store, settings: ComplianceSettings, now: float) -> Check:
    last = store.get_setting(LAST_BACKUP_SETTING)
    passed = last is not None and now - last <= BACKUP_MAX_AGE_S
    if last is None:
        evidence = "no backup of this box has been recorded"
    else:
        evidence = (f"last backup {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(last))} "
                    f"({(now - last) / 86400:.1f} days ago)")
    remediation = "" if passed else "Run `appliance backup --out FILE` at least weekly and keep the file off the box."
    return Check("backups", "Backups of the detection data", "Art. 21(2)(c) business continuity, backup management",
                 passed, evidence, remediation)


def supply_chain(store: Store, settings: ComplianceSettings, now: float) -> Check:
    passed = settings.supply_chain_assessed
    evidence = "supply-chain security assessment recorded" if passed else "no supply-chain assessment recorded"
    remediation = "" if passed else ("Assess the security of direct suppliers and service providers, then set "
                                     "supply_chain_assessed under PUT /compliance/settings.")
    return Check("supply_chain", "Supply-chain security assessment", "Art. 21(2)(d) supply chain security",
                 passed, evidence, remediation)


def asset_inventory(store: Store, settings: ComplianceSettings, now: float) -> Check:
    devices_with_alerts = store.query_one("SELECT count(*) AS n FROM device_risk")["n"]
    first_seen = store.query_one(
        "SELECT coalesce(sum(n), 0) AS n FROM alert_counts WHERE rule_name = 'NEW_DEVICE'")["n"]
    known = max(devices_with_alerts, first_seen)
    passed = known > 0
    evidence = (f"{first_seen} device(s) inventoried as they first appeared on the network (NEW_DEVICE), "
                f"{devices_with_alerts} device(s) with alerts")
    remediation = "" if passed else ("No devices inventoried yet: let a sensor watch the network through the "
                                     "learning period so the box builds its asset inventory.")
    return Check("asset_inventory", "Asset inventory", "Art. 21(2)(i) asset management", passed, evidence, remediation)


def audit_log(store: Store, settings: ComplianceSettings, now: float) -> Check:
    intact, broken, checked = verify_chain(store)
    passed = intact and checked > 0
    evidence = (f"hash chain intact over {checked} entries" if intact
                else f"hash chain BROKEN at entry {broken} (after {checked} good entries)")
    remediation = "" if passed else ("Investigate the audit log: an entry was altered or deleted. Restore from a "
                                     "backup and review who had access to the box." if not intact
                                     else "The audit log is empty: changes made through the API will be recorded.")
    return Check("audit_log", "Tamper-evident audit log", "Art. 21(2)(f) assessing the effectiveness of measures",
                 passed, evidence, remediation)


def cryptography(store: Store, settings: ComplianceSettings, now: float) -> Check:
    cipher = store.connection().execute("PRAGMA cipher").fetchall()[0][0]
    with open(store.data_dir.database, "rb") as database:
        encrypted = database.read(16) != SQLITE_PLAINTEXT_HEADER
    cleartext = store.query_one(
        "SELECT coalesce(sum(n), 0) AS n FROM alert_counts WHERE rule_name = 'CLEARTEXT_CREDENTIALS' "
        "AND status IN ('open', 'reviewed')")["n"]
    passed = encrypted and cleartext == 0
    evidence = (f"database encrypted at rest: {'yes, ' + cipher if encrypted else 'NO'}; "
                f"{cleartext} unresolved alert(s) of credentials sent in cleartext (CLEARTEXT_CREDENTIALS)")
    fixes = []
    if not encrypted:
        fixes.append("Re-create the store encrypted (appliance init) and restore the data.")
    if cleartext:
        fixes.append("Replace the cleartext protocols the alerts name (FTP, Telnet, HTTP basic, POP3/IMAP without "
                     "TLS) with encrypted ones, then resolve the alerts.")
    return Check("cryptography", "Encryption at rest and no cleartext credentials",
                 "Art. 21(2)(h) cryptography and encryption", passed, evidence, " ".join(fixes))


def admin_mfa(store: Store, settings: ComplianceSettings, now: float) -> Check:
    admins = store.query("SELECT username, totp_enabled FROM users WHERE role = 'admin' AND disabled = 0")
    without = [admin["username"] for admin in admins if not admin["totp_enabled"]]
    passed = bool(admins) and not without
    evidence = f"{len(admins) - len(without)} of {len(admins)} active admin account(s) use TOTP multi-factor login"
    remediation = "" if passed else f"Enable TOTP for: {', '.join(without)}."
    return Check("admin_mfa", "Multi-factor authentication for administrators",
                 "Art. 21(2)(j) multi-factor authentication", passed, evidence, remediation)


CHECKS: list[Callable[[Store, ComplianceSettings, float], Check]] = [
    monitoring_coverage, incident_response, backups, supply_chain, asset_inventory, audit_log, cryptography,
    admin_mfa,
]


def readiness(store: Store, settings: ComplianceSettings, now: float | None = None) -> ReadinessStatus:
    now = time.time() if now is None else now
    checks = [check(store, settings, now) for check in CHECKS]
    passed = sum(check.passed for check in checks)
    return ReadinessStatus(checks=checks, passed=passed, total=len(checks),
                           score=round(100 * passed / len(checks)), generated_at=now)
