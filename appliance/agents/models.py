"""Bodies of the /agents endpoints (the seed's "Agents" section plus ingest and the admin views)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from appliance.licensing.state import Status
from appliance.whitelist.models import WhitelistEntry

AgentId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]
Short = Annotated[str, msgspec.Meta(max_length=255)]


class AgentAuthIn(msgspec.Struct):
    license_key: Annotated[str, msgspec.Meta(max_length=4096)]
    agent_id: AgentId
    hostname: Short
    os_type: Annotated[str, msgspec.Meta(max_length=32)]
    agent_version: Annotated[str, msgspec.Meta(max_length=64)]


class AgentToken(msgspec.Struct):
    access_token: str
    expires_in: int
    next_seq: int
    """Beyond the seed: the lowest seq this box has not seen from the sensor. A sensor that lost its spool
    continues from here instead of reusing seqs the box would drop as repeats."""
    token_type: str = "bearer"


class CaptureTotals(msgspec.Struct):
    """What a sensor's batches reported since it first sent one: its capture health at a glance."""

    batches: int
    flows: int
    packets: int
    bytes: int
    kernel_drops: int  # packets the kernel dropped before the sensor read them
    malformed: int
    updated_at: float  # when its latest batch was stored


class Agent(msgspec.Struct):
    agent_id: str
    name: str
    hostname: str
    os_type: str
    agent_version: str
    revoked: bool
    created_at: float
    last_seen: float
    next_seq: int
    capture: CaptureTotals | None = None  # None until its first batch is stored


class AgentList(msgspec.Struct):
    agents: list[Agent]
    total: int


class AgentRename(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class HeartbeatIn(msgspec.Struct):
    agent_version: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class LicenseSummary(msgspec.Struct):
    """What a sensor learns about the box's license: enough to warn its operator, nothing more."""

    license_id: str
    plan: str
    status: Status
    expires_at: int
    days_left: int
    hint: str


class HeartbeatOut(msgspec.Struct):
    agent_id: str
    server_time: float
    license: LicenseSummary | None
    latest_version: str
    update_available: bool


class AgentConfig(msgspec.Struct):
    rule_overrides: dict[str, Any]
    whitelist: list[WhitelistEntry]


class VersionOut(msgspec.Struct):
    latest_version: str
    current_version: str | None
    update_available: bool
