"""Hand-built sensor records for the rule tests: realistic defaults, override what the case is about."""

from __future__ import annotations

import itertools

import pytest

from appliance.engine.detection import RuleConfig
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RULE_MODULES, RuleSet
from sensor.records import Flow

T0 = 1_700_000_000.0  # a Tuesday, 22:13 UTC
_uids = itertools.count()


def make_flow(**fields) -> Flow:
    """An ordinary finished TCP conversation 10.0.0.5 -> 10.0.0.9:443 unless told otherwise."""
    defaults = dict(
        uid=f"F{next(_uids)}",
        ts_start=T0,
        ts_end=T0 + 0.5,
        proto="TCP",
        src_ip="10.0.0.5",
        dst_ip="10.0.0.9",
        src_port=50000,
        dst_port=443,
        src_mac="02:00:00:00:00:05",
        pkts_orig=10,
        pkts_resp=10,
        bytes_orig=1500,
        bytes_resp=6000,
        payload_orig=900,
        payload_resp=5400,
        conn_state="SF",
        history="ShADadFf",
        syn=1,
        synack=1,
        fin=2,
        tcp_flags_orig=0x1B,
        iat_mean=0.05,
        size_mean=375.0,
    )
    defaults.update(fields)
    return Flow(**defaults)


def probe(
    dst_port: int, *, ts: float = T0, dst_ip: str = "10.0.0.9", src_ip: str = "10.0.0.5", **fields
) -> Flow:
    """A SYN that was refused: one port of a SYN scan."""
    shape = dict(
        ts_start=ts,
        ts_end=ts + 0.001,
        src_ip=src_ip,
        dst_ip=dst_ip,
        dst_port=dst_port,
        pkts_orig=1,
        pkts_resp=1,
        bytes_orig=44,
        bytes_resp=40,
        payload_orig=0,
        payload_resp=0,
        conn_state="REJ",
        history="Sr",
        fin=0,
        synack=0,
        rst=1,
        tcp_flags_orig=0x02,
    )
    return make_flow(**(shape | fields))


def run(ruleset: RuleSet, records, *, final: float | None = None) -> list:
    """Feeds records in order, then advances far enough to close every incident."""
    out = []
    for record in records:
        out += ruleset.on_flow(record) if isinstance(record, Flow) else ruleset.on_event(record)
    last = max((getattr(r, "ts_end", None) or r.ts for r in records), default=T0)
    out += ruleset.advance(final if final is not None else last + 10 * 86400)
    return out


def only(rule: str, **thresholds) -> dict[str, RuleConfig]:
    """Configs enabling just `rule` (with threshold overrides): a unit test sees one rule's output."""
    return {
        name: RuleConfig(enabled=name == rule, thresholds=thresholds if name == rule else {})
        for name in RULE_MODULES
    }


@pytest.fixture
def site() -> SiteConfig:
    return SiteConfig()
