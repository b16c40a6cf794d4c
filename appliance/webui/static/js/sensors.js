// The sensors: each one's state, when it last reported, what it captured and dropped; rename and revoke.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

// A sensor heartbeats every minute or so: five minutes without a word and it needs a look.
const SILENT_AFTER_S = 300;

const count = (value) => Number(value).toLocaleString("en");

export function sensorState(sensor, now = Date.now() / 1000) {
  if (sensor.revoked) return ["revoked", "Revoked"];
  if (now - sensor.last_seen > SILENT_AFTER_S) return ["silent", "Silent"];
  return ["reporting", "Reporting"];
}

function dropsCell(capture) {
  if (!capture) return h("span", { class: "muted" }, "no batch yet");
  const seen = capture.packets + capture.kernel_drops;
  const share = seen ? (100 * capture.kernel_drops) / seen : 0;
  return h("span", { class: share >= 1 ? "drops-high" : "" },
    `${count(capture.kernel_drops)} (${share.toFixed(share && share < 0.1 ? 2 : 1)} %)`);
}

function renameForm(sensor, reload) {
  const name = h("input", { name: "name", value: sensor.name, required: true, maxlength: 100,
    "aria-label": `New name for ${sensor.name}` });
  const form = h("form", { class: "inline-form", "aria-label": `Rename ${sensor.name}` }, name,
    h("button", { class: "button", type: "submit" }, "Rename"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const renamed = await api.patch(`/agents/${encodeURIComponent(sensor.agent_id)}`, { name: name.value.trim() });
      await reload(successNotice(`${sensor.name} is now called ${renamed.name}.`));
    } catch (error) {
      await reload(errorNotice(error));
    }
  });
  return form;
}

function sensorRow(sensor, reload) {
  const [state, label] = sensorState(sensor);
  const capture = sensor.capture;
  return h("tr", { "data-sensor": sensor.agent_id },
    h("td", { class: "nowrap" }, h("strong", {}, sensor.name), h("div", { class: "muted small mono" }, sensor.agent_id)),
    h("td", {}, h("span", { class: `badge sensor-${state}` }, label)),
    h("td", { class: "nowrap" }, formatTime(sensor.last_seen)),
    h("td", {}, `${sensor.hostname} · ${sensor.os_type} · ${sensor.agent_version}`),
    h("td", { class: "numeric" }, capture ? count(capture.packets) : "—"),
    h("td", { class: "numeric" }, dropsCell(capture)),
    h("td", { class: "numeric" }, capture ? count(capture.malformed) : "—"),
    h("td", { class: "nowrap" }, capture ? formatTime(capture.updated_at) : "—"),
    h("td", {}, sensor.revoked ? null : h("div", { class: "button-row" }, renameForm(sensor, reload),
      confirmingButton("Revoke", "Confirm revoke", async () => {
        try {
          await api.post(`/agents/${encodeURIComponent(sensor.agent_id)}/revoke`);
          await reload(successNotice(`${sensor.name} is revoked: its token stopped working.`));
        } catch (error) {
          await reload(errorNotice(error));
        }
      }))));
}

export async function sensorsPage(view, context) {
  const draw = async (notice) => {
    const { agents } = await api.get("/agents");
    view.replaceChildren(
      pageHeader("Sensors"),
      notice ?? "",
      agents.length === 0
        ? panel(null, h("p", { class: "empty" },
          "No sensor has registered yet: install one on a mirror/SPAN port with the license key."))
        : h("div", { class: "table-wrap panel" }, h("table", { class: "table sensors-table" },
          h("thead", {}, h("tr", {}, ["Sensor", "State", "Last seen", "Host · OS · version", "Packets", "Kernel drops",
            "Malformed", "Latest batch", ""].map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, agents.map((sensor) => sensorRow(sensor, draw))))),
      agents.length === 0 ? null : h("p", { class: "muted" }, "Packets, drops and malformed packets add up what each sensor reported since its "
        + "first batch. Drops are packets the kernel lost before the sensor read them: more than 1 % means the "
        + "sensor's machine or its capture buffer is too small for the mirrored traffic."));
  };
  await draw(null);
}
