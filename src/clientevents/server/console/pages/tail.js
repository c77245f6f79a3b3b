// Live tail: a bus's events as they are accepted, filtered by a pattern typed here; each row
// opens to the full envelope, the rules it matched and the targets they point to.
import { api, clear, h, pretty, state, when } from "../lib.js";

const MAX_ROWS = 500;

export function render(root) {
  let source = null;
  let count = 0;
  let paused = false;
  const status = h("span", { class: "status", id: "tail-status", role: "status" }, "connecting…");
  const busSelect = h("select", { id: "tail-bus", "aria-label": "Bus" });
  const pattern = h("textarea", { id: "tail-pattern", rows: 3, spellcheck: "false",
    placeholder: '{"detail": {"eventType": ["purchase"]}}  (empty: every event)', "aria-label": "Event pattern filter" });
  const problem = h("p", { class: "notice error", id: "tail-error", role: "alert", hidden: true });
  const list = h("ol", { class: "events", id: "tail-events" });
  const pause = h("button", { type: "button", class: "secondary", id: "tail-pause", onclick: () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
  } }, "Pause");

  function connect() {
    if (source) source.close();
    problem.hidden = true;
    const text = pattern.value.trim();
    if (text) {
      try {
        JSON.parse(text);
      } catch (e) {
        problem.hidden = false;
        problem.textContent = `The filter is not valid JSON: ${e.message}`;
        return;
      }
    }
    const params = new URLSearchParams();
    if (text) params.set("pattern", text);
    const url = `/admin/api/buses/${encodeURIComponent(busSelect.value)}/tail?${params}`;
    status.textContent = "connecting…";
    source = new EventSource(url);
    source.addEventListener("hello", () => {
      status.textContent = `following ${busSelect.value}` + (text ? " (filtered)" : "");
      status.dataset.state = "live";
    });
    source.addEventListener("event", (e) => {
      if (!paused) addEvent(JSON.parse(e.data));
    });
    source.addEventListener("skipped", (e) => {
      const { count: n } = JSON.parse(e.data);
      list.prepend(h("li", { class: "skipped" }, `${n} events skipped (this page fell behind)`));
    });
    source.onerror = async () => {
      status.textContent = "disconnected; retrying…";
      status.dataset.state = "down";
      if (source && source.readyState === EventSource.CLOSED) {
        // A refused stream (a bad filter, a signed-out session) closes for good: say why.
        try {
          await api("GET", `/buses/${encodeURIComponent(busSelect.value)}/events${params.toString() ? "?" + params + "&after=0&limit=1" : ""}`);
        } catch (err) {
          problem.hidden = false;
          problem.textContent = err.message;
        }
      }
    };
  }

  function addEvent(item) {
    count += 1;
    const event = item.event || {};
    const detail = event.detail && typeof event.detail === "object" ? event.detail : {};
    const names = item.rules.map((r) => r.rule);
    const body = h("div", { class: "event-body", hidden: true },
      h("h4", {}, "Matched rules"),
      item.rules.length
        ? h("ul", { class: "matched" }, item.rules.map((r) => h("li", {},
          h("strong", {}, r.rule), " → ",
          r.targets.map((t, i) => [i ? ", " : "", h("code", {}, `${t.id} (${t.type})`)]))))
        : h("p", { class: "muted" }, "No rule matched this event."),
      h("h4", {}, "Envelope"),
      h("pre", { class: "json" }, pretty(event)),
      h("button", { type: "button", class: "secondary", onclick: () => {
        state.sandboxEvent = event;
        location.hash = "#/rules";
      } }, "Open in the sandbox"));
    const summary = h("button", { type: "button", class: "event-summary", "aria-expanded": "false",
      onclick: () => {
        body.hidden = !body.hidden;
        summary.setAttribute("aria-expanded", String(!body.hidden));
      } },
      h("span", { class: "time" }, String(event.time || when(item.ingested_at))),
      h("span", { class: "type" }, String(detail.eventType !== undefined ? detail.eventType : event["detail-type"])),
      h("span", { class: "id" }, String(event.id || "")),
      h("span", { class: "rules" }, names.length ? names.map((n) => h("span", { class: "chip" }, n)) : h("span", { class: "chip none" }, "no match")));
    list.prepend(h("li", { class: "event", dataset: { id: String(event.id || "") } }, summary, body));
    while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
    status.textContent = `following ${busSelect.value}: ${count} events`;
  }

  root.append(
    h("h2", {}, "Live tail"),
    h("div", { class: "toolbar" },
      h("label", {}, "Bus ", busSelect),
      pause,
      h("button", { type: "button", class: "secondary", onclick: () => clear(list) }, "Clear"),
      status),
    h("form", { class: "filter", id: "tail-filter", onsubmit: (e) => { e.preventDefault(); connect(); } },
      h("label", {}, "Filter by event pattern", pattern),
      h("button", { type: "submit", id: "tail-apply" }, "Apply filter")),
    problem,
    list);

  api("GET", "/buses").then(({ buses }) => {
    for (const bus of buses) busSelect.append(h("option", { value: bus.name }, bus.name));
    busSelect.addEventListener("change", connect);
    connect();
  }).catch((err) => {
    problem.hidden = false;
    problem.textContent = err.message;
  });

  return () => {
    if (source) source.close();
  };
}
