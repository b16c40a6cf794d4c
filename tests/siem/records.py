"""A sensor batch with a flow and one protocol event of each common kind, queued as the ingest API would."""

from __future__ import annotations

from appliance.ingest.queue import enqueue_records
from sensor.records import (
    Batch,
    CaptureStats,
    DnsEvent,
    Flow,
    HttpRequestEvent,
    KerberosEvent,
    SshBannerEvent,
    TlsClientHelloEvent,
)

T0 = 1_700_000_000.5


def sample_batch(agent_id: str, seq: int) -> Batch:
    flow = Flow(uid=f"F{seq}", ts_start=T0, ts_end=T0 + 12.25, proto="TCP", src_ip="10.0.0.5", dst_ip="93.184.216.34",
                src_port=51515, dst_port=443, src_mac="aa:bb:cc:00:00:05", pkts_orig=10, pkts_resp=12,
                bytes_orig=1500, bytes_resp=24000, conn_state="SF", history="ShADadFf", syn=1, fin=2,
                tcp_flags_orig=0x1B, end_reason="fin")
    common = {"src_ip": "10.0.0.5", "dst_ip": "10.0.0.53", "src_port": 40000, "proto": "UDP", "flow_uid": f"F{seq}"}
    events = [
        DnsEvent(ts=T0 + 1, dst_port=53, query="example.org", qtype=1, **common),
        DnsEvent(ts=T0 + 1.1, dst_port=53, query="example.org", qtype=1, is_response=True, answers=["93.184.216.34"],
                 **common),
        TlsClientHelloEvent(ts=T0 + 2, src_ip="10.0.0.5", dst_ip="93.184.216.34", src_port=51515, dst_port=443,
                            proto="TCP", sni="example.org", version=0x0304, ja3="771,4865,0-23,29,0",
                            ja3_hash="d41d8cd98f00b204e9800998ecf8427e"),
        HttpRequestEvent(ts=T0 + 3, src_ip="10.0.0.5", dst_ip="93.184.216.34", src_port=51516, dst_port=80,
                         proto="TCP", method="GET", uri="/index.html", host="example.org", user_agent="curl/8.0"),
        SshBannerEvent(ts=T0 + 4, src_ip="10.0.0.5", dst_ip="10.0.0.22", src_port=51517, dst_port=22, proto="TCP",
                       banner="SSH-2.0-OpenSSH_9.2p1"),
        KerberosEvent(ts=T0 + 5, src_ip="10.0.0.5", dst_ip="10.0.0.2", src_port=51518, dst_port=88, proto="TCP",
                      msg_type=13, ticket_etype=23, service="MSSQLSvc/db1", realm="CORP.EXAMPLE"),
    ]
    return Batch(agent_id=agent_id, seq=seq, sent_at=T0 + 13, flows=[flow], events=events,
                 stats=CaptureStats(packets=30, bytes=26000))


def queue_batch(store, agent_id: str = "sensor-1", seq: int = 0) -> None:
    with store.write_transaction() as connection:
        enqueue_records(connection, sample_batch(agent_id, seq))
