// Archives and replays: what each archive holds; start a replay over a time window, watch its
// progress, cancel it.
import { api, canChange, clear, confirmAction, fmt, h, notice } from "../lib.js";

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function render(root) {
  const archives = h("tbody", { id: "archives-body" });
  const replays = h("tbody", { id: "replays-body" });
  const archiveSelect = h("select", { name: "archive", id: "replay-archive", required: true });
  const now = new Date();
  const form = h("form", { class: "replay-form", id: "replay-form" },
    h("label", {}, "Name ", h("input", { name: "name", id: "replay-name", required: true, pattern: "[A-Za-z0-9._\\-]{1,64}" })),
    h("label", {}, "Archive ", archiveSelect),
    h("label", {}, "From ", h("input", { name: "start", id: "replay-start", type: "datetime-local", required: true, value: localInput(new Date(now - 3600e3)) })),
    h("label", {}, "To ", h("input", { name: "end", id: "replay-end", type: "datetime-local", required: true, value: localInput(new Date(now.getTime() + 60e3)) })),
    h("label", {}, "Rules (comma-separated; empty: every rule) ", h("input", { name: "rules", id: "replay-rules" })),
    h("button", { type: "submit", id: "replay-start-button", disabled: !canChange() }, "Start replay"));
  let timer = null;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const rules = String(data.get("rules") || "").split(",").map((s) => s.trim()).filter(Boolean);
    try {
      await api("POST", "/replays", {
        name: data.get("name"),
        archive: data.get("archive"),
        start: new Date(data.get("start")).toISOString(),
        end: new Date(data.get("end")).toISOString(),
        rules: rules.length ? rules : null,
      });
      notice(root, `Replay ${data.get("name")} started.`, "ok");
      refresh();
    } catch (err) {
      notice(root, err.message);
    }
  });

  async function cancel(name) {
    if (!(await confirmAction("Cancel replay", `Stop replay ${name}? Events already replayed stay on the bus.`, "Cancel replay"))) return;
    try {
      await api("POST", `/replays/${encodeURIComponent(name)}/cancel`);
    } catch (err) {
      notice(root, err.message);
    }
    refresh();
  }

  async function refresh() {
    try {
      const [a, r] = await Promise.all([api("GET", "/archives"), api("GET", "/replays")]);
      clear(archives, a.archives.map((x) => h("tr", {},
        h("td", {}, x.name), h("td", {}, x.bus), h("td", {}, x.state),
        h("td", { class: "num" }, String(x.event_count)), h("td", { class: "num" }, fmt(x.size_bytes / 1024, 1) + " KiB"),
        h("td", {}, x.retention_days ? `${x.retention_days} days` : "forever"))));
      if (!archiveSelect.options.length) {
        for (const x of a.archives) archiveSelect.append(h("option", { value: x.name }, x.name));
      }
      clear(replays, r.replays.map((x) => h("tr", { dataset: { replay: x.name, state: x.state } },
        h("td", {}, x.name),
        h("td", {}, x.archive),
        h("td", { class: "state" }, x.state, x.state_reason ? h("div", { class: "muted" }, x.state_reason) : null),
        h("td", {}, h("progress", { max: 1, value: x.progress }), ` ${Math.round(x.progress * 100)}%`),
        h("td", { class: "num events" }, String(x.events_replayed)),
        h("td", {}, `${x.event_start_time} → ${x.event_end_time}`),
        h("td", {}, x.rules ? x.rules.join(", ") : "every rule"),
        h("td", {}, x.active && canChange() ? h("button", { type: "button", class: "danger", onclick: () => cancel(x.name) }, "Cancel") : ""))));
    } catch (err) {
      notice(root, err.message);
    }
  }

  root.append(
    h("h2", {}, "Archives"),
    h("table", { class: "grid", id: "archives-table" },
      h("thead", {}, h("tr", {}, ["Archive", "Bus", "State", "Events", "Size", "Retention"].map((t) => h("th", {}, t)))),
      archives),
    h("h2", {}, "Start a replay"),
    form,
    h("h2", {}, "Replays"),
    h("table", { class: "grid", id: "replays-table" },
      h("thead", {}, h("tr", {}, ["Replay", "Archive", "State", "Progress", "Events", "Window", "Rules", ""].map((t) => h("th", {}, t)))),
      replays));
  refresh();
  timer = setInterval(refresh, 1000);
  return () => clearInterval(timer);
}
