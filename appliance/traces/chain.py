"""Appending traces to the hash chain, signing checkpoints, and building proof trails.

Link i:  content_sha256_i = sha256(canonical JSON of the decision)
         hash_i           = sha256(hash_{i-1} || content_sha256_i)      (hex strings, GENESIS before the first)
A checkpoint is the box's Ed25519 signature over "the chain up to seq ends in hash". A proof trail is one
trace's full content, the link digests from it to the next checkpoint, and that checkpoint: enough to
verify the trace offline with the box's public key and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.box_identity import public_key_hex

GENESIS = "0" * 64
PROOF_TRAIL_FORMAT = "netsenx-proof-trail/1"
# What a NIS2 / GDPR report embeds: the alerts as recorded and, per alert, the proof trails of its decisions.
REPORT_EVIDENCE_FORMAT = "netsenx-report-evidence/1"
CHECKPOINT_STATEMENT = "netsenx decision-trace checkpoint"


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def link_hash(previous_hash: str, content_sha256: str) -> str:
    return sha256_hex(previous_hash + content_sha256)


def checkpoint_statement(box_id: str, seq: int, chain_hash: str, created_at: float) -> bytes:
    return canonical_json(
        {"statement": CHECKPOINT_STATEMENT, "box_id": box_id, "seq": seq, "hash": chain_hash, "created_at": created_at}
    ).encode()


def search_text(content: dict) -> str:
    """What `GET /traces/?search=` finds a trace by: rule, hosts, outcome and the evidence's words."""
    return " ".join(
        [
            content["rule_name"],
            content["outcome"],
            content["source_ip"],
            content["dest_ip"],
            str(content.get("port") or ""),
            canonical_json(content.get("evidence", {})),
        ]
    )


def append(connection, content: dict, now: float | None = None) -> tuple[str, int]:
    """Add one decision to the chain (inside the caller's transaction). Returns (trace id, seq)."""
    trace_id = str(uuid.uuid4())
    content = {**content, "trace_id": trace_id, "decided_at": time.time() if now is None else now}
    body = canonical_json(content)
    digest = sha256_hex(body)
    last = connection.execute("SELECT hash FROM decision_traces ORDER BY seq DESC LIMIT 1").fetchall()
    previous = last[0][0] if last else GENESIS
    connection.execute(
        "INSERT INTO decision_traces (id, created_at, outcome, rule_name, incident_key, alert_id, source_ip, dest_ip,"
        " score, content, content_sha256, previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            trace_id,
            content["decided_at"],
            content["outcome"],
            content["rule_name"],
            content["incident_key"],
            content.get("alert_id"),
            content["source_ip"],
            content["dest_ip"],
            content.get("score"),
            body,
            digest,
            previous,
            link_hash(previous, digest),
        ),
    )
    seq = connection.last_insert_rowid()
    connection.execute("INSERT INTO trace_search (rowid, text) VALUES (?, ?)", (seq, search_text(content)))
    return trace_id, seq


def checkpoint(connection, key: Ed25519PrivateKey, box_id: str, now: float | None = None) -> int | None:
    """Sign the chain's current head if it moved since the last checkpoint. Returns the seq signed."""
    head = connection.execute("SELECT seq, hash FROM decision_traces ORDER BY seq DESC LIMIT 1").fetchall()
    if not head:
        return None
    seq, chain_hash = head[0]
    return seq if sign_checkpoint(connection, key, box_id, seq, chain_hash, now) else None


def sign_checkpoint(connection, key: Ed25519PrivateKey, box_id: str, seq: int, chain_hash: str,
                    now: float | None = None) -> bool:
    """Sign "the chain up to seq ends in chain_hash", unless a checkpoint at seq exists. True if signed."""
    if connection.execute("SELECT 1 FROM trace_checkpoints WHERE seq = ?", (seq,)).fetchall():
        return False
    created_at = time.time() if now is None else now
    signature = key.sign(checkpoint_statement(box_id, seq, chain_hash, created_at)).hex()
    connection.execute(
        "INSERT INTO trace_checkpoints (seq, hash, created_at, box_id, public_key, signature) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (seq, chain_hash, created_at, box_id, public_key_hex(key), signature),
    )
    return True


def proof_trail(connection, trace_id: str) -> dict | None:
    rows = connection.execute(
        "SELECT seq, content, content_sha256, previous_hash, hash FROM decision_traces WHERE id = ?", (trace_id,)
    ).fetchall()
    if not rows:
        return None
    seq, content, content_sha256, previous_hash, chain_hash = rows[0]
    checkpoint_rows = connection.execute(
        "SELECT seq, hash, created_at, box_id, public_key, signature FROM trace_checkpoints WHERE seq >= ? "
        "ORDER BY seq LIMIT 1",
        (seq,),
    ).fetchall()
    trail = {
        "format": PROOF_TRAIL_FORMAT,
        "how_to_verify": "appliance traces verify FILE [--public-key HEX]",
        "trace": {
            "seq": seq,
            "content": json.loads(content),
            "content_sha256": content_sha256,
            "previous_hash": previous_hash,
            "hash": chain_hash,
        },
        "chain_to_checkpoint": [],
        "checkpoint": None,
    }
    if checkpoint_rows:
        checkpoint_seq, checkpoint_hash, created_at, box_id, public_key, signature = checkpoint_rows[0]
        trail["chain_to_checkpoint"] = [
            {"seq": link_seq, "content_sha256": digest, "hash": link}
            for link_seq, digest, link in connection.execute(
                "SELECT seq, content_sha256, hash FROM decision_traces WHERE seq > ? AND seq <= ? ORDER BY seq",
                (seq, checkpoint_seq),
            )
        ]
        trail["checkpoint"] = {
            "seq": checkpoint_seq,
            "hash": checkpoint_hash,
            "created_at": created_at,
            "box_id": box_id,
            "public_key": public_key,
            "signature": signature,
        }
    return trail
