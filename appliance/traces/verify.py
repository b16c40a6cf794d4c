"""Offline verification of a proof trail: what an auditor runs, with nothing but the file (and the box's
public key, obtained separately, to be sure the checkpoint was signed by that box).

`appliance traces verify` takes either one proof trail (GET /traces/{id}/proof-trail) or the evidence a NIS2 /
GDPR report embeds (proof-trail.json in the PDF): there every nested trail must verify and be about the alert
it is filed under."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.traces.chain import (
    PROOF_TRAIL_FORMAT,
    REPORT_EVIDENCE_FORMAT,
    canonical_json,
    checkpoint_statement,
    link_hash,
    sha256_hex,
)


def verify_proof_trail(trail: dict, expected_public_key: str | None = None) -> list[str]:
    """Every problem found, each naming what fails; an empty list means the trail verifies."""
    try:
        return list(_problems(trail, expected_public_key))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return [f"the proof trail is malformed: {type(error).__name__} {error}"]


def verify_document(document: dict, expected_public_key: str | None = None) -> list[str]:
    """A proof trail or a report's evidence, whichever the document is; an empty list means it verifies."""
    if isinstance(document, dict) and document.get("format") == REPORT_EVIDENCE_FORMAT:
        try:
            return list(_report_problems(document, expected_public_key))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return [f"the report evidence is malformed: {type(error).__name__} {error}"]
    return verify_proof_trail(document, expected_public_key)


def report_trails(evidence: dict) -> list[tuple[str, dict]]:
    """(alert id, proof trail) for every trail a report's evidence carries."""
    return [(group["alert_id"], trail) for group in evidence["proof_trails"] for trail in group["trails"]]


def _report_problems(evidence: dict, expected_public_key: str | None):
    trails = report_trails(evidence)
    if not trails:
        yield "the report carries no decision trace: there is nothing to verify"
    reported = {alert["id"] for alert in evidence["alerts"]}
    for alert_id, trail in trails:
        where = f"alert {alert_id}, trace seq {trail.get('trace', {}).get('seq')}"
        if alert_id not in reported:
            yield f"{where}: the report lists no such alert"
        decided = trail.get("trace", {}).get("content", {}).get("alert_id")
        if decided != alert_id:
            yield f"{where}: the trace decided about alert {decided}, not this one"
        yield from (f"{where}: {problem}" for problem in verify_proof_trail(trail, expected_public_key))


def _problems(trail: dict, expected_public_key: str | None):
    if trail.get("format") != PROOF_TRAIL_FORMAT:
        yield (f"unknown format {trail.get('format')!r}, expected {PROOF_TRAIL_FORMAT!r} (one proof trail) or "
               f"{REPORT_EVIDENCE_FORMAT!r} (a report's proof-trail.json)")
        return
    trace = trail["trace"]
    digest = sha256_hex(canonical_json(trace["content"]))
    if digest != trace["content_sha256"]:
        yield (
            f"trace {trace['seq']}: its content has been altered (content sha256 is {digest}, "
            f"the chain recorded {trace['content_sha256']})"
        )
    if link_hash(trace["previous_hash"], trace["content_sha256"]) != trace["hash"]:
        yield f"trace {trace['seq']}: its chain hash does not follow from previous_hash and content_sha256"
    checkpoint = trail.get("checkpoint")
    if checkpoint is None:
        yield "no signed checkpoint covers this trace yet: it cannot be verified"
        return
    previous, previous_seq = trace["hash"], trace["seq"]
    for link in trail["chain_to_checkpoint"]:
        if link["seq"] != previous_seq + 1:
            yield f"chain link {link['seq']}: expected seq {previous_seq + 1} (a link is missing or reordered)"
        if link_hash(previous, link["content_sha256"]) != link["hash"]:
            yield f"chain link {link['seq']}: its hash does not follow from link {previous_seq}"
        previous, previous_seq = link["hash"], link["seq"]
    if previous_seq < checkpoint["seq"]:
        yield (
            f"the chain stops at seq {previous_seq} but the checkpoint is for seq {checkpoint['seq']}: "
            "links are missing"
        )
    elif previous_seq != checkpoint["seq"] or previous != checkpoint["hash"]:
        yield (
            f"the chain ends at seq {previous_seq} with hash {previous[:16]}…, but the checkpoint is for seq "
            f"{checkpoint['seq']} with hash {checkpoint['hash'][:16]}…"
        )
    if expected_public_key and expected_public_key.lower() != checkpoint["public_key"].lower():
        yield "the checkpoint was signed by a different key than the box's public key you gave"
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(checkpoint["public_key"])).verify(
            bytes.fromhex(checkpoint["signature"]),
            checkpoint_statement(checkpoint["box_id"], checkpoint["seq"], checkpoint["hash"], checkpoint["created_at"]),
        )
    except InvalidSignature:
        yield f"checkpoint {checkpoint['seq']}: the Ed25519 signature does not match its statement"
