"""The `agents` table: registration on auth, last_seen on heartbeat, the admins' rename and revoke."""

from __future__ import annotations

from appliance.agents.models import Agent, AgentAuthIn, CaptureTotals
from appliance.store.database import Store
from sensor.records import Batch

IDENTITY_FIELDS = ("hostname", "os_type", "agent_version")
CAPTURE_FIELDS = ("batches", "flows", "packets", "bytes", "kernel_drops", "malformed", "updated_at")
# A sensor with its capture totals (migration 0010), if it ever sent a batch.
AGENT_WITH_CAPTURE = (
    "SELECT a.*, " + ", ".join(f"t.{field} AS capture_{field}" for field in CAPTURE_FIELDS)
    + " FROM agents a LEFT JOIN capture_totals t ON t.agent_id = a.agent_id"
)


def get(store: Store, agent_id: str) -> Agent | None:
    row = store.query_one(f"{AGENT_WITH_CAPTURE} WHERE a.agent_id = ?", (agent_id,))
    return None if row is None else _agent(row)


def list_agents(store: Store) -> list[Agent]:
    return [_agent(row) for row in store.query(f"{AGENT_WITH_CAPTURE} ORDER BY a.created_at, a.id")]


def register(store: Store, auth: AgentAuthIn, now: float) -> Agent:
    """A new sensor, named after its hostname until an admin renames it."""
    store.execute(
        "INSERT INTO agents (agent_id, name, hostname, os_type, agent_version, created_at, last_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (auth.agent_id, auth.hostname or auth.agent_id, auth.hostname, auth.os_type, auth.agent_version, now, now),
    )
    return get(store, auth.agent_id)


def update_identity(store: Store, existing: Agent, auth: AgentAuthIn, now: float) -> dict[str, list[str]]:
    """A known sensor authenticating again: keep what it says about itself. Returns {field: [old, new]}."""
    changes = {
        field: [getattr(existing, field), getattr(auth, field)]
        for field in IDENTITY_FIELDS
        if getattr(existing, field) != getattr(auth, field)
    }
    store.execute(
        "UPDATE agents SET hostname = ?, os_type = ?, agent_version = ?, last_seen = ? WHERE agent_id = ?",
        (auth.hostname, auth.os_type, auth.agent_version, now, auth.agent_id),
    )
    return changes


def touch(store: Store, agent_id: str, now: float, agent_version: str | None = None) -> Agent | None:
    store.execute(
        "UPDATE agents SET last_seen = ?, agent_version = coalesce(?, agent_version) WHERE agent_id = ?",
        (now, agent_version, agent_id),
    )
    return get(store, agent_id)


def rename(store: Store, agent_id: str, name: str) -> Agent | None:
    store.execute("UPDATE agents SET name = ? WHERE agent_id = ?", (name, agent_id))
    return get(store, agent_id)


def revoke(store: Store, agent_id: str) -> Agent | None:
    store.execute("UPDATE agents SET revoked = 1 WHERE agent_id = ?", (agent_id,))
    return get(store, agent_id)


def advance_next_seq(store: Store, agent_id: str, seq: int) -> None:
    store.execute("UPDATE agents SET next_seq = max(next_seq, ?) WHERE agent_id = ?", (seq + 1, agent_id))


def count_capture(store: Store, batch: Batch, now: float) -> None:
    """Add a stored batch's capture counters (deltas since the sensor's previous batch) to the sensor's running
    totals (migration 0010), which /metrics serves as counters."""
    stats = batch.stats
    store.execute(
        "INSERT INTO capture_totals (agent_id, batches, flows, packets, bytes, kernel_drops, malformed, updated_at) "
        "VALUES (?, 1, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET batches = batches + 1, "
        "flows = flows + excluded.flows, packets = packets + excluded.packets, bytes = bytes + excluded.bytes, "
        "kernel_drops = kernel_drops + excluded.kernel_drops, malformed = malformed + excluded.malformed, "
        "updated_at = excluded.updated_at",
        (batch.agent_id, len(batch.flows), stats.packets, stats.bytes, stats.kernel_drops, stats.malformed, now),
    )


def _agent(row: dict) -> Agent:
    return Agent(
        agent_id=row["agent_id"],
        name=row["name"],
        hostname=row["hostname"],
        os_type=row["os_type"],
        agent_version=row["agent_version"],
        revoked=bool(row["revoked"]),
        created_at=row["created_at"],
        last_seen=row["last_seen"],
        next_seq=row["next_seq"],
        capture=None if row["capture_batches"] is None
        else CaptureTotals(**{field: row[f"capture_{field}"] for field in CAPTURE_FIELDS}),
    )
