"""GET /traces (the seed's "Decision Traces" section)."""

from __future__ import annotations

import json
import re

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter

from appliance.api.paging import Offset
from appliance.api.security import viewer
from appliance.box_identity import public_key_hex, signing_key
from appliance.store.database import Store
from appliance.traces.chain import proof_trail


class TraceSummary(msgspec.Struct):
    id: str
    seq: int
    created_at: float
    outcome: str
    rule_name: str
    incident_key: str
    alert_id: str | None
    source_ip: str
    dest_ip: str
    score: float | None
    hash: str


class TraceDetail(TraceSummary):
    content: dict
    content_sha256: str
    previous_hash: str


class TraceList(msgspec.Struct):
    traces: list[TraceSummary]
    total: int


class BoxKey(msgspec.Struct):
    public_key: str
    algorithm: str = "Ed25519"


SUMMARY_COLUMNS = "id, seq, created_at, outcome, rule_name, incident_key, alert_id, source_ip, dest_ip, score, hash"


def fts_query(search: str) -> str | None:
    """Each word of the search becomes a quoted phrase, so "10.0.0.5" or PORT_SCAN match as typed and
    FTS syntax in the input cannot break the query."""
    words = [re.sub(r'"', "", word) for word in search.split()]
    words = [word for word in words if word]
    return " ".join(f'"{word}"' for word in words) or None


class TracesController(Controller):
    path = "/traces"
    tags = ["traces"]
    guards = [viewer]

    @get("/", sync_to_thread=True,
         summary="Decision traces, newest first; `search` looks in rule, hosts, outcome and evidence")
    def list_traces(
        self,
        store: NamedDependency[Store],
        limit: int = Parameter(default=20, ge=1, le=100),
        offset: Offset = 0,
        search: str | None = Parameter(default=None, max_length=200),
    ) -> TraceList:
        match = fts_query(search) if search else None
        if match:
            where, parameters = "WHERE seq IN (SELECT rowid FROM trace_search WHERE trace_search MATCH ?)", [match]
        else:
            where, parameters = "", []
        rows = store.query(
            f"SELECT {SUMMARY_COLUMNS} FROM decision_traces {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*parameters, limit, offset),
        )
        total = store.query_one(f"SELECT count(*) AS n FROM decision_traces {where}", parameters)["n"]
        return TraceList(traces=[TraceSummary(**row) for row in rows], total=total)

    @get("/box-key", sync_to_thread=True, summary="The box's Ed25519 public key, to verify proof trails against")
    def box_key(self, store: NamedDependency[Store]) -> BoxKey:
        return BoxKey(public_key=public_key_hex(signing_key(store)))

    @get("/{trace_id:str}", sync_to_thread=True, summary="One trace with everything the decision was based on")
    def get_trace(self, trace_id: FromPath[str], store: NamedDependency[Store]) -> TraceDetail:
        row = store.query_one(
            f"SELECT {SUMMARY_COLUMNS}, content, content_sha256, previous_hash FROM decision_traces WHERE id = ?",
            (trace_id,),
        )
        if row is None:
            raise NotFoundException(f"no trace {trace_id}")
        row["content"] = json.loads(row["content"])
        return TraceDetail(**row)

    @get("/{trace_id:str}/proof-trail", sync_to_thread=True,
         summary="JSON proof trail to verify offline (`appliance traces verify`)")
    def get_proof_trail(self, trace_id: FromPath[str], store: NamedDependency[Store]) -> dict:
        trail = proof_trail(store.connection(), trace_id)
        if trail is None:
            raise NotFoundException(f"no trace {trace_id}")
        return trail
