"""The engine: the single writer that turns ingested batches into alerts and decision traces.

For each pending batch, in arrival order: read it (intake.py), feed its records to the rules in packet-time
order, score what they detect, decide (alert / suppressed / below threshold), and commit the alerts, the
traces, the batch's records into the flow log (appliance/evidence/flow_log.py) and the batch's "done" mark,
with its place in the processing order, in ONE transaction: a batch is either wholly processed or still pending.

The engine never stops on one batch. Each try is counted first, in a transaction of its own. A batch whose
processing raises is set aside (failed, with its error and an audit entry; GET /agents/ingest/failed lists it
and an admin may retry it) and the engine goes on with the next; a batch during which the process died
MAX_ATTEMPTS times (out of memory, a crash in a C extension, killed) is set aside without another try.

A restart changes no decision. The rules' state and the baseline are checkpointed together (every
`checkpoint_batches` batches or `checkpoint_seconds`, never more often than CHECKPOINT_SPACING times what the
last one took, and when the engine stops), in the transaction of the batch that makes one due, with the point
of the processing order they cover. On start the engine restores the checkpoint and replays, through the rules
alone, the batches finished after it: rules are deterministic (packet time only, see rules/rule.py), so they
reach the very state the stopped engine had, and the replay writes nothing, those batches' decisions being
committed already. After a failed batch the same restore rewinds the rules to before it. Done batches are
never pruned, so a replay always finds what it needs. Why not a checkpoint per batch: on the mixed scenario
the rules' state is 0.1-0.6 MB and the learning baseline 1.2 MB, and saving both after every 500-record batch
made the engine 2.5x slower (~40 ms more per batch, bench_engine_checkpoint.py) and wrote them to flash every
second; a large site's rules' state is ~20 MB. Replaying a checkpoint's worth of batches through the rules
costs a restart seconds (~30 ms a batch).

A checkpoint made by other code or configuration (RuleSet.fingerprint), or one that cannot be read, is
discarded with an audit entry and the rules start afresh on the stored baseline. A stored baseline that cannot
be read is set aside (kept as engine_state 'baseline_set_aside', reported) and learning starts over. Neither
stops the engine from starting. The baseline is written only with a checkpoint and only when it changed:
while learning, at every checkpoint; afterwards only when a device joined the network.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import msgspec

from appliance.alerts.repository import insert_alert
from appliance.audit import log as audit
from appliance.box_identity import box_id, signing_key
from appliance.engine.baseline import Baseline
from appliance.engine.detection import Detection, RuleConfig
from appliance.engine.intake import read_batch
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from appliance.engine.rules.saved_state import StateError
from appliance.evidence import flow_log
from appliance.intel import compiled as compiled_intel
from appliance.intel import repository as intel_repository
from appliance.intel import retro_hunt
from appliance.store.database import Store
from appliance.traces import chain
from appliance.whitelist.models import WhitelistEntry, entry_matches
from appliance.whitelist.repository import list_entries
from sensor.records import Batch, Flow

log = logging.getLogger("netsenx.engine")

ALERT_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
EVIDENCE_FLOWS_IN_TRACE = 20
CHECKPOINT_BATCHES = 100
CHECKPOINT_SECONDS = 60.0
# A checkpoint waits at least this many times as long as the last one took: saving stays under ~2% of the
# engine's time even on a site whose state is tens of MB (where the replay after a restart grows instead).
CHECKPOINT_SPACING = 50
MAX_ATTEMPTS = 3
AUDIT_USER = "engine"
ERROR_CHARS = 2000  # of an exception's text kept with a set-aside batch
RETRO_HUNT_SECONDS = 0.25  # of retro-hunting between two rounds of batches


class ScoreLike(Protocol):
    score: float
    shap: dict


class ScorerLike(Protocol):
    model_version: str
    model_sha256: str

    def score_many(self, detections: list[Detection]) -> list[ScoreLike]: ...


class EngineSettings(msgspec.Struct, kw_only=True):
    """What the admin tunes, stored in the settings table (key "engine")."""

    min_score: float = 0.0  # detections scoring below this are traced as below_threshold, not alerted
    rule_overrides: dict[str, RuleConfig] = {}
    site: SiteConfig = msgspec.field(default_factory=SiteConfig)


SETTINGS_KEY = "engine"


def load_settings(store: Store) -> EngineSettings:
    return msgspec.convert(store.get_setting(SETTINGS_KEY, {}), EngineSettings)


def stored_settings_text(store: Store) -> str:
    """The stored settings as written, for a cheap "did they change?" between batches."""
    row = store.query_one("SELECT value FROM settings WHERE key = ?", (SETTINGS_KEY,))
    return row["value"] if row else ""


def detect(rules: RuleSet, batch: Batch) -> Iterable[Detection]:
    """The batch's records through the rules in packet-time order, then packet time advances to its end."""
    records = [(event.ts, 0, event) for event in batch.events] + [(flow.ts_end, 1, flow) for flow in batch.flows]
    records.sort(key=lambda item: (item[0], item[1]))
    latest = 0.0
    for ts, kind, record in records:
        latest = max(latest, ts)
        yield from (rules.on_flow(record) if kind else rules.on_event(record))
    if records:
        yield from rules.advance(latest)


class Engine:
    def __init__(
        self,
        store: Store,
        scorer: ScorerLike,
        *,
        settings: EngineSettings | None = None,
        rule_allowed: Callable[[str], bool] = lambda rule_name: True,
        checkpoint_batches: int = CHECKPOINT_BATCHES,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self.store = store
        self.scorer = scorer
        # Settings given by the caller (analyze, tests) are its own; settings read from the store follow it.
        self._settings_text = stored_settings_text(store) if settings is None else None
        self.settings = settings or load_settings(store)
        self.rule_allowed = rule_allowed
        self.checkpoint_batches = checkpoint_batches
        self.checkpoint_seconds = checkpoint_seconds
        self.box_id = box_id(store)
        self.signing_key = signing_key(store)
        self._load_intel()
        self.fingerprint = self._new_rules(None).fingerprint()
        self.rules = self._restore()

    # --- the queue ---------------------------------------------------------------------------------------
    def process_pending(
        self, limit: int = 100, stop: threading.Event | None = None, taken_one: Callable[[], None] = lambda: None
    ) -> int:
        """Process up to `limit` pending batches, or until `stop` is set (checked between batches). Returns how
        many were taken (processed or set aside), or 1 when only a retro-hunt went on (so a caller looping while
        there is work lets it finish); with nothing to do, checkpoints what is not saved yet. `taken_one()` is
        called after each batch (progress)."""
        self.follow_settings()
        self._take_new_indicators()
        pending = self.store.query(
            "SELECT id, attempts FROM ingest_batches WHERE done = 0 AND failed_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        for taken, row in enumerate(pending):
            if stop is not None and stop.is_set():
                return taken
            self._take(row["id"], row["attempts"])
            taken_one()
        hunted = self.retro_hunt()
        if not pending and not hunted and self._checkpoint_due(0):  # a quiet queue keeps to the same schedule
            self.checkpoint()
        return len(pending) or int(hunted)

    def _take_new_indicators(self) -> None:
        """A feed, an import or the allowlist changed what matches: compile the indicator set again. The rules
        keep their state (indicators are not part of the checkpoint's fingerprint: a replay after a restart
        matches with the set of its day)."""
        if intel_repository.generation(self.store) != self._intel_generation:
            self._load_intel()
            self.rules.use_intel(self.intel)

    def _load_intel(self) -> None:
        """Compile the indicator set; the retro-hunts for indicators it holds search the log up to here (the
        generation is read first: a set loaded after it holds at least that generation's indicators)."""
        self._intel_generation = intel_repository.generation(self.store)
        self.intel = compiled_intel.load(self.store, self.settings.site)
        retro_hunt.set_horizons(self.store, self._intel_generation)

    # --- retro-hunts -------------------------------------------------------------------------------------
    def retro_hunt(self) -> bool:
        """Steps of the waiting retro-hunts (appliance/intel/retro_hunt.py) for about RETRO_HUNT_SECONDS (at least
        one step), between batches: the hot path waits at most that long. Returns whether any step ran."""
        deadline = time.monotonic() + RETRO_HUNT_SECONDS
        overrules = None
        ran = False
        while not ran or time.monotonic() < deadline:
            overrules = overrules or compiled_intel.overrules(self.store)
            try:
                step = retro_hunt.next_step(self.store, self.rules.intel_rule, overrules)
                if step is None:
                    break
                self._found_later(step)
            except Exception as error:  # like a batch that fails: set aside, and the engine goes on
                log.exception("a retro-hunt step failed: the hunt is given up")
                hunt_id = retro_hunt.give_up(self.store, time.time())
                self._report("engine.retro_hunt_failed", f"retro_hunt#{hunt_id}",
                             {"error": f"{type(error).__name__}: {error}"[:ERROR_CHARS]})
            ran = True
        return ran

    def _found_later(self, step: retro_hunt.Step) -> None:
        """Decide on what a retro-hunt step found as on a batch's detections (scored, the whitelist, a look-alike
        of a false positive, licensing), and record the step, in one transaction."""
        now = time.time()
        marked = [retro_hunt.found_later(self.store.connection(), detection, step, now)
                  for detection in step.detections]
        detections = [detection for detection in marked if detection is not None]
        scores = self.scorer.score_many(detections) if detections else []
        whitelist = list_entries(self.store, include_expired=False) if detections else []
        with self.store.write_transaction() as connection:
            for detection, score in zip(detections, scores, strict=True):
                self._decide(connection, detection, score, whitelist, {}, None)
            retro_hunt.record_step(connection, step, len(marked) - len(detections), now)
            if detections:
                chain.checkpoint(connection, self.signing_key, self.box_id)

    def process_all(self, taken_one: Callable[[], None] = lambda: None) -> None:
        """Process every pending batch, then checkpoint: `appliance analyze`, `appliance engine --once`."""
        while self.process_pending(taken_one=taken_one):
            pass
        self.checkpoint()

    def _take(self, batch_id: int, attempts: int) -> None:
        if attempts >= MAX_ATTEMPTS:
            self._set_aside(batch_id, f"the engine stopped {attempts} times while processing this batch "
                            "(killed, out of memory or crashed); it is not tried again unless an admin retries it")
            return
        self.store.execute("UPDATE ingest_batches SET attempts = attempts + 1 WHERE id = ?", (batch_id,))
        try:
            self.process_batch(batch_id)
        except Exception as error:
            log.exception("batch %s failed: it is set aside and the engine goes on", batch_id)
            self._set_aside(batch_id, f"{type(error).__name__}: {error}"[:ERROR_CHARS])
            self.rules = self._restore()  # the rules may have taken half the batch: back to before it

    def _set_aside(self, batch_id: int, error: str) -> None:
        row = self.store.query_one("SELECT agent_id, seq, attempts FROM ingest_batches WHERE id = ?", (batch_id,))
        with self.store.write_transaction():
            self.store.execute(
                "UPDATE ingest_batches SET failed_at = ?, error = ? WHERE id = ?", (time.time(), error, batch_id)
            )
            self._report(
                "engine.batch_set_aside",
                f"{row['agent_id']}#{row['seq']}",
                {"batch_id": batch_id, "attempts": row["attempts"], "error": error},
            )

    def _report(self, action: str, target: str, details: dict) -> None:
        log.warning("%s %s: %s", action, target, details)
        audit.record(self.store, username=AUDIT_USER, source_ip="local", action=action, target=target, details=details)

    # --- settings changed by an admin ----------------------------------------------------------------------
    def follow_settings(self) -> bool:
        """Apply settings an admin changed (UI, API or CLI) since the last look, between two batches, without a
        restart. Returns whether new settings took effect.

        The rules start afresh under the new configuration (as after a restart with it: a checkpoint is only
        valid for the configuration that made it), on the baseline learnt so far, and are checkpointed at
        once with the new fingerprint, so a restart right after continues from the same point. Stored
        settings that cannot be read keep the running ones, reported once."""
        if self._settings_text is None:
            return False
        text = stored_settings_text(self.store)
        if text == self._settings_text:
            return False
        self._settings_text = text
        try:
            settings = load_settings(self.store)
            changed = settings != self.settings
            if changed:
                self._apply(settings)
        except (ValueError, msgspec.ValidationError) as error:
            self._report("engine.settings_refused", "settings", {"error": str(error)[:ERROR_CHARS]})
            return False
        return changed

    def _apply(self, settings: EngineSettings) -> None:
        baseline = Baseline.from_bytes(self.rules.baseline.to_bytes(), settings.site)
        self.settings = settings
        self._load_intel()  # the allowlist and networks are the site's
        self.rules = self._new_rules(baseline)
        self.fingerprint = self.rules.fingerprint()
        with self.store.write_transaction() as connection:
            baseline = self._write_checkpoint(connection, self._processed_seq)
            self._report("engine.settings_applied", "settings", {"fingerprint": self.fingerprint})
        self._saved(baseline)

    # --- one batch ---------------------------------------------------------------------------------------
    def process_batch(self, batch_id: int) -> list[str]:
        """Returns the ids of the alerts raised or updated."""
        row = self.store.query_one("SELECT agent_id, seq, payload FROM ingest_batches WHERE id = ?", (batch_id,))
        intake = read_batch(row["payload"])
        batch = intake.batch
        flows_by_uid = {flow.uid: flow for flow in batch.flows}
        detections = list(detect(self.rules, batch))
        scores = self.scorer.score_many(detections) if detections else []
        whitelist = list_entries(self.store, include_expired=False)
        touched = []
        processed_seq = self._processed_seq + 1
        due = self._checkpoint_due(1)
        with self.store.write_transaction() as connection:
            for detection, score in zip(detections, scores, strict=True):
                alert_id = self._decide(connection, detection, score, whitelist, flows_by_uid, batch)
                if alert_id:
                    touched.append(alert_id)
            flow_log.record_batch(connection, batch_id, batch)
            connection.execute(
                "UPDATE ingest_batches SET done = 1, processed_seq = ? WHERE id = ?", (processed_seq, batch_id)
            )
            if intake.dropped:
                self._report(
                    "engine.records_dropped",
                    f"{row['agent_id']}#{row['seq']}",
                    {"batch_id": batch_id, "dropped": intake.dropped, "first_problem": intake.first_problem},
                )
            baseline = self._write_checkpoint(connection, processed_seq) if due else None
            chain.checkpoint(connection, self.signing_key, self.box_id)
        self._processed_seq, self._unsaved = processed_seq, self._unsaved + 1
        if due:  # only once committed: a rolled-back batch leaves the old checkpoint stored
            self._saved(baseline)
        return touched

    def _decide(
        self,
        connection,
        detection: Detection,
        score: ScoreLike,
        whitelist: list[WhitelistEntry],
        flows_by_uid: dict[str, Flow],
        batch: Batch | None,
    ) -> str | None:
        """`batch`: the one the detection came from; None for a retro-hunt's."""
        content = trace_content(detection, score, self.scorer, flows_by_uid, batch)
        matching_entry = next(
            (
                entry
                for entry in whitelist
                if entry_matches(
                    entry,
                    source_ip=detection.source_ip,
                    dest_ip=detection.dest_ip or None,
                    port=detection.port or None,
                    rule_name=detection.rule_name,
                    at=time.time(),
                )
            ),
            None,
        )
        look_alike = None if matching_entry else false_positive_look_alike(connection, detection)
        alert_id = None
        if not self.rule_allowed(detection.rule_name):
            content["outcome"] = "rule_not_licensed"
        elif matching_entry is not None:
            content["outcome"] = "suppressed_whitelist"
            content["whitelist_entry"] = msgspec.structs.asdict(matching_entry)
        elif look_alike is not None:
            content["outcome"] = "suppressed_false_positive"
            content["false_positive_alert_id"] = look_alike
        elif score.score < self.settings.min_score:
            content["outcome"] = "below_threshold"
            content["min_score"] = self.settings.min_score
        else:
            alert_id, raised = upsert_alert(connection, detection, score)
            content["outcome"] = "alert_raised" if raised else "alert_updated"
            content["alert_id"] = alert_id
        trace_id, _ = chain.append(connection, content)
        if alert_id:
            connection.execute("UPDATE alerts SET trace_id = ? WHERE id = ?", (trace_id, alert_id))
        return alert_id

    # --- checkpoints -------------------------------------------------------------------------------------
    def _checkpoint_due(self, batches_now: int) -> bool:
        """Whether to checkpoint once the `batches_now` in hand are done."""
        unsaved = self._unsaved + batches_now
        elapsed = time.monotonic() - self._saved_at
        scheduled = unsaved >= self.checkpoint_batches or (unsaved and elapsed >= self.checkpoint_seconds)
        return bool(scheduled) and elapsed >= CHECKPOINT_SPACING * self._save_seconds

    def checkpoint(self) -> None:
        """Save the rules' state and the baseline now, if batches were processed since the last save."""
        if not self._unsaved:
            return
        with self.store.write_transaction() as connection:
            baseline = self._write_checkpoint(connection, self._processed_seq)
        self._saved(baseline)

    def _write_checkpoint(self, connection, processed_seq: int) -> bytes | None:
        """Returns the baseline written with it, or None when the rules' state cannot be saved (a rule that
        breaks the plain-data rule of rules/rule.py): logged, and tried again at the next checkpoint, while the
        replay after a restart grows."""
        started = time.perf_counter()
        try:
            rules = self.rules.saved_state()
        except Exception:
            log.exception("the rules' state cannot be saved: no checkpoint (a rule keeps something that is not data)")
            return None
        baseline = self.rules.baseline.to_bytes()
        self._save_seconds = time.perf_counter() - started
        connection.execute(
            "INSERT INTO engine_checkpoint (id, processed_seq, fingerprint, rules, created_at) VALUES (1, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET processed_seq = excluded.processed_seq, "
            "fingerprint = excluded.fingerprint, rules = excluded.rules, created_at = excluded.created_at",
            (processed_seq, self.fingerprint, rules, time.time()),
        )
        if baseline != self._stored_baseline:
            connection.execute(
                "INSERT INTO engine_state (key, value) VALUES ('baseline', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (baseline,),
            )
        return baseline

    def _saved(self, baseline: bytes | None) -> None:
        """A checkpoint was due and written (or could not be: the next is due after as many batches again)."""
        if baseline is not None:
            self._stored_baseline = baseline
        self._unsaved, self._saved_at = 0, time.monotonic()

    # --- restart -----------------------------------------------------------------------------------------
    def _new_rules(self, baseline: Baseline | None) -> RuleSet:
        return RuleSet(self.settings.rule_overrides, self.settings.site, baseline, self.intel)

    def _restore(self) -> RuleSet:
        """The rules as the last checkpoint left them, brought up to date by replaying the batches finished
        after it. Whatever fails here is reported and the rules start afresh: the engine always starts."""
        self._saved_at, self._save_seconds = time.monotonic(), 0.0
        self._processed_seq = self.store.query_one(
            "SELECT coalesce(max(processed_seq), 0) AS seq FROM ingest_batches"
        )["seq"]
        baseline = self._stored_baseline_or_none()
        checkpoint = self.store.query_one("SELECT processed_seq, fingerprint, rules FROM engine_checkpoint")
        covered = checkpoint["processed_seq"] if checkpoint else 0
        rules = self._new_rules(baseline)
        problem = self._restore_rules(rules, checkpoint) if checkpoint else ""
        if problem:
            self._report("engine.checkpoint_discarded", "rules", {"reason": problem, "processed_seq": covered})
            rules = self._new_rules(baseline)
        try:
            self._unsaved = self._replay(rules, after=covered)
        except Exception as error:
            log.exception("replaying the batches after the checkpoint failed")
            self._report("engine.replay_failed", "rules", {"error": f"{type(error).__name__}: {error}"[:ERROR_CHARS]})
            rules, self._unsaved = self._new_rules(self._stored_baseline_or_none()), 0
            problem = "replay failed"
        if problem:  # save the fresh start at once, so the next start does not report the same again
            self._unsaved = max(self._unsaved, 1)
        return rules

    def _restore_rules(self, rules: RuleSet, checkpoint: dict) -> str:
        """Restores the checkpoint into `rules`; returns why it could not be, or ""."""
        if self._baseline_lost:
            return "the stored baseline it belongs with was set aside"
        if checkpoint["fingerprint"] != self.fingerprint:
            return "made by other code or configuration (an upgrade or a settings change): the rules start afresh"
        try:
            rules.restore_state(checkpoint["rules"])
        except StateError as error:
            return str(error)
        return ""

    def _replay(self, rules: RuleSet, after: int) -> int:
        """Feeds the batches finished after the checkpoint to the rules again, writing nothing."""
        done = self.store.query(
            "SELECT id FROM ingest_batches WHERE processed_seq > ? ORDER BY processed_seq", (after,)
        )
        for row in done:
            payload = self.store.query_one("SELECT payload FROM ingest_batches WHERE id = ?", (row["id"],))["payload"]
            for _ in detect(rules, read_batch(payload).batch):
                pass
        if done:
            log.info("replayed %d batches after the checkpoint", len(done))
        return len(done)

    def _stored_baseline_or_none(self) -> Baseline | None:
        """The stored baseline; a stored one that cannot be read is set aside and reported (None: learn anew)."""
        self._baseline_lost = False
        saved = self.store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")
        self._stored_baseline = saved["value"] if saved else None
        if saved is None:
            return None
        try:
            return Baseline.from_bytes(saved["value"], self.settings.site)
        except ValueError as error:
            with self.store.write_transaction():
                self.store.execute(
                    "INSERT INTO engine_state (key, value) VALUES ('baseline_set_aside', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (saved["value"],),
                )
                self.store.execute("DELETE FROM engine_state WHERE key = 'baseline'")
                self._report("engine.baseline_set_aside", "baseline", {"error": str(error)[:ERROR_CHARS]})
            self._stored_baseline, self._baseline_lost = None, True
            return None

def trace_content(
    detection: Detection, score: ScoreLike, scorer: ScorerLike, flows_by_uid: dict[str, Flow], batch: Batch | None
) -> dict:
    evidence_flows = [
        msgspec.to_builtins(flows_by_uid[uid]) for uid in detection.evidence_flow_uids if uid in flows_by_uid
    ][:EVIDENCE_FLOWS_IN_TRACE]
    return {
        "outcome": "",
        "rule_name": detection.rule_name,
        "rule_version": detection.rule_version,
        "thresholds": detection.thresholds,
        "severity": alert_severity(detection.severity),
        "incident_key": detection.incident_key,
        "source_ip": detection.source_ip,
        "dest_ip": detection.dest_ip,
        "port": detection.port,
        "protocol": detection.protocol,
        "first_seen": detection.first_seen,
        "last_seen": detection.last_seen,
        "features": detection.features,
        "evidence": detection.evidence,
        "evidence_flow_uids": detection.evidence_flow_uids,
        "evidence_flows": evidence_flows,
        "model": {"version": scorer.model_version, "sha256": scorer.model_sha256},
        "score": score.score,
        "shap": score.shap,
        "alert_id": None,
        "batch": {"agent_id": batch.agent_id, "seq": batch.seq} if batch else None,
    }


def alert_severity(severity: str) -> str:
    return severity if severity in ALERT_SEVERITIES else "LOW"


def false_positive_look_alike(connection, detection: Detection) -> str | None:
    """An alert an analyst already called a false positive for the same rule, source and target."""
    rows = connection.execute(
        "SELECT id FROM alerts WHERE status = 'false_positive' AND rule_name = ? AND source_ip = ? "
        "AND coalesce(dest_ip, '') = ? AND coalesce(port, 0) = ? AND incident_key IS NOT ? LIMIT 1",
        (detection.rule_name, detection.source_ip, detection.dest_ip, detection.port, detection.incident_key),
    ).fetchall()
    return rows[0][0] if rows else None


def upsert_alert(connection, detection: Detection, score: ScoreLike) -> tuple[str, bool]:
    """One alert per incident: (alert id, True when newly raised)."""
    shap_json = json.dumps(score.shap)
    evidence = json.dumps(detection.evidence)
    existing = connection.execute("SELECT id FROM alerts WHERE incident_key = ?", (detection.incident_key,)).fetchall()
    if existing:
        alert_id = existing[0][0]
        connection.execute(
            "UPDATE alerts SET score = ?, shap_json = ?, evidence = ?, last_seen = ?, severity = ?, updated_at = ? "
            "WHERE id = ?",
            (
                score.score,
                shap_json,
                evidence,
                detection.last_seen,
                alert_severity(detection.severity),
                time.time(),
                alert_id,
            ),
        )
        return alert_id, False
    alert_id = insert_alert(
        connection,
        severity=alert_severity(detection.severity),
        rule_name=detection.rule_name,
        source_ip=detection.source_ip,
        dest_ip=detection.dest_ip or None,
        port=detection.port or None,
        protocol=detection.protocol or None,
        score=score.score,
        timestamp=int(detection.first_seen),
        shap_json=score.shap,
    )
    connection.execute(
        "UPDATE alerts SET incident_key = ?, evidence = ?, first_seen = ?, last_seen = ? WHERE id = ?",
        (detection.incident_key, evidence, detection.first_seen, detection.last_seen, alert_id),
    )
    return alert_id, True
