// The conversations of an alert or an incident: the flows the box logged for the hosts involved while it lasted
// (GET /flows), and the packets of the alert's flows as a pcap (GET /alerts/{id}/pcap, analysts).

import { api, download } from "./api.js";
import { errorNotice, formatTime, h, successNotice } from "./elements.js";

const MARGIN_S = 60; // flows just before and after the alert's span belong to the story too
const MOST = 100;

const endpoint = (ip, port) => (port ? `${ip}:${port}` : ip);

function flowsTable(flows) {
  if (flows.length === 0) return h("p", { class: "muted" }, "The flow log holds no conversation of these hosts then.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Conversations" },
    h("thead", {}, h("tr", {}, ["Start", "Protocol", "From", "To", "Service", "Packets", "Bytes", "State"]
      .map((title) => h("th", {}, title)))),
    h("tbody", {}, flows.map((flow) => h("tr", { "data-flow-uid": flow.uid },
      h("td", { class: "nowrap" }, formatTime(flow.ts_start)),
      h("td", {}, flow.proto),
      h("td", { class: "mono" }, endpoint(flow.src_ip, flow.src_port)),
      h("td", { class: "mono" }, endpoint(flow.dst_ip, flow.dst_port)),
      h("td", {}, flow.service || "–"),
      h("td", { class: "numeric" }, flow.pkts_orig + flow.pkts_resp),
      h("td", { class: "numeric" }, flow.bytes_orig + flow.bytes_resp),
      h("td", {}, flow.conn_state))))));
}

// Flows of each alert's source host during the alert (newest first), each once.
async function conversationsOf(alerts) {
  const found = new Map();
  for (const alert of alerts) {
    const since = (alert.first_seen ?? alert.timestamp) - MARGIN_S;
    const until = (alert.last_seen ?? alert.timestamp) + MARGIN_S;
    const page = await api.get("/flows", { ip: alert.source_ip, since, until, limit: MOST });
    for (const flow of page.flows) found.set(`${flow.agent_id}/${flow.uid}/${flow.ts_start}`, flow);
  }
  return [...found.values()].sort((a, b) => b.ts_start - a.ts_start).slice(0, MOST);
}

export function conversationsPanelBody(alerts, context) {
  const body = h("div", {}, h("p", { class: "muted" }, "Looking for the conversations…"));
  if (!context.paths.has("/flows")) return null;
  conversationsOf(alerts).then((flows) => body.replaceChildren(flowsTable(flows)),
    (error) => body.replaceChildren(errorNotice(error)));
  return body;
}

// "Download packets (pcap)" for an alert or an incident: a 404 says why there are none (pruned, no store).
export function packetsButton(path, fallbackName) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite", "data-outcome": "packets" });
  const fetchPackets = async (event) => {
    const button = event.currentTarget;
    outcome.replaceChildren();
    button.disabled = true;
    try {
      await download("GET", path, undefined, fallbackName);
      outcome.replaceChildren(successNotice("The packets were downloaded (their SHA-256 is in the audit log)."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    } finally {
      button.disabled = false;
    }
  };
  return h("div", {}, h("div", { class: "button-row" },
    h("button", { class: "button", type: "button", "data-action": "packets", onclick: fetchPackets },
      "Download packets (pcap)")), outcome);
}
