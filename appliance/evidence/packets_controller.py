"""GET /alerts/{id}/pcap and GET /compliance/incidents/{id}/pcap: the packets of an alert's (an incident's alerts')
flows from the box's packet store, as one standard pcap file. An incident under legal hold gives the copy of its
packets preserved when the hold was placed (appliance/evidence/legal_hold.py).

The seed has no packet section; the paths hang under the resource they are evidence of. The packets are the LAN's
own traffic (personal data under the GDPR), so downloading them is an analyst's act and goes into the audit log
with the file's SHA-256, which the response also carries (`X-Content-SHA256`). The SHA-256 also goes into each
alert's decision trace chain (outcome `packets_downloaded`, signed), so its proof trail vouches for the file.
"""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter
from litestar.response import Response

from appliance.alerts import repository
from appliance.api.box import Box
from appliance.api.security import analyst, viewer
from appliance.audit.requests import record_request
from appliance.evidence import legal_hold, packets
from appliance.store.database import Store

PCAP_MEDIA_TYPE = "application/vnd.tcpdump.pcap"
PADDING = Parameter(default=5.0, ge=0, le=packets.MAX_PADDING_S,
                    description="seconds of each flow's packets kept before its start and after its end")


def pcap_response(store: Store, request: Request, alert_ids: list[str], subject: str, padding: float,
                  held: bytes | None = None) -> Response:
    flows = packets.alert_flows(store, alert_ids)
    if not flows:
        raise NotFoundException(f"{subject} names no flows (its decisions carry no evidence flows)")
    extract = packets.extract(store, flows, padding) if held is None else packets.counted(held, len(flows))
    if not extract.packets:
        raise NotFoundException(f"the packet store holds no packets of {subject}'s {extract.flows} flows (pruned "
                                "already, or seen by a sensor that keeps no packets on the box)")
    packets.record_download(store, alert_ids, extract, padding, request.user.name)
    record_request(store, request, action="packets.downloaded", target=subject,
                   details={"sha256": extract.sha256, "packets": extract.packets, "flows": extract.flows,
                            "padding_s": padding})
    filename = subject.replace(" ", "-")
    return Response(extract.pcap, media_type=PCAP_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{filename}.pcap"', "Cache-Control": "no-store",
        "X-Content-SHA256": extract.sha256})


class PacketsController(Controller):
    tags = ["packets"]

    @get("/packets/status", guards=[viewer], sync_to_thread=True,
         summary="The packet store: each sensor's ring, and whether the disk was full at its last write")
    def status(self, box: NamedDependency[Box]) -> packets.PacketStoreStatus:
        return packets.store_status(box.data_dir)

    @get("/alerts/{alert_id:str}/pcap", guards=[analyst], sync_to_thread=True, media_type=PCAP_MEDIA_TYPE,
         raises=[NotFoundException], summary="The packets of the alert's flows (pcap); recorded in the audit log")
    def alert_pcap(self, alert_id: FromPath[str], request: Request, store: NamedDependency[Store],
                   padding: float = PADDING) -> Response:
        if repository.get_alert(store.connection(), alert_id) is None:
            raise NotFoundException(f"no alert {alert_id}")
        return pcap_response(store, request, [alert_id], f"alert {alert_id}", padding)

    @get("/compliance/incidents/{incident_id:str}/pcap", guards=[analyst], sync_to_thread=True,
         media_type=PCAP_MEDIA_TYPE, raises=[NotFoundException],
         summary="The packets of the flows of the incident's alerts (pcap); recorded in the audit log")
    def incident_pcap(self, incident_id: FromPath[str], request: Request, store: NamedDependency[Store],
                      padding: float = PADDING) -> Response:
        incident = store.query_one("SELECT reference FROM incidents WHERE id = ?", (incident_id,))
        if incident is None:
            raise NotFoundException(f"no incident {incident_id}")
        alert_ids = [row["alert_id"] for row in store.query(
            "SELECT alert_id FROM incident_alerts WHERE incident_id = ? ORDER BY added_at, alert_id", (incident_id,))]
        return pcap_response(store, request, alert_ids, f"incident {incident['reference']}", padding,
                             held=legal_hold.held_packets(store, incident_id))
