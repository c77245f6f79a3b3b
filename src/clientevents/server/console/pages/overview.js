// Overview: requests and events per second, rejections by reason, latency, backlog per target,
// drawn from the same counters /metrics exports.
import { api, barChart, clear, fmt, h, lineChart, notice } from "../lib.js";

export function render(root) {
  const cards = h("div", { class: "cards", id: "overview-cards" });
  const charts = h("div", { class: "charts", id: "overview-charts" });
  root.append(h("h2", {}, "Overview"), cards, charts);
  let timer = null;

  async function refresh() {
    let o;
    try {
      o = await api("GET", "/overview");
    } catch (err) {
      notice(root, err.message);
      return;
    }
    const last = o.series.length ? o.series[o.series.length - 1] : {};
    const rejected = Object.values(last.rejected_entries_per_sec || {}).reduce((a, b) => a + b, 0)
      + Object.values(last.rejected_requests_per_sec || {}).reduce((a, b) => a + b, 0);
    const card = (label, value, id) => h("div", { class: "card", id }, h("span", { class: "big" }, value), h("span", { class: "label" }, label));
    clear(cards,
      card("events / s", fmt(last.events_per_sec), "card-events"),
      card("requests / s", fmt(last.requests_per_sec), "card-requests"),
      card("rejections / s", fmt(rejected), "card-rejections"),
      card("ingest p95 ms", fmt(last.ingest_latency_p95_ms, 2), "card-latency"),
      card("events accepted", fmt(o.totals.events_accepted, 0), "card-accepted"),
      card("dead letters", String(o.dead_letters), "card-dead"),
      card("active replays", String(o.active_replays), "card-replays"));
    const series = (key) => o.series.map((s) => s[key]);
    const reasons = {};
    for (const s of o.series) {
      for (const [r, v] of Object.entries(s.rejected_entries_per_sec)) reasons[r] = (reasons[r] || 0) + v * o.interval_secs;
      for (const [r, v] of Object.entries(s.rejected_requests_per_sec)) reasons[r] = (reasons[r] || 0) + v * o.interval_secs;
    }
    const panel = (title, chart) => h("figure", { class: "panel" }, h("figcaption", {}, title), chart);
    clear(charts,
      panel("Events accepted per second", lineChart(series("events_per_sec"), { label: "events per second" })),
      panel("Requests per second", lineChart(series("requests_per_sec"), { label: "requests per second" })),
      panel("Ingest latency, p95 (ms)", lineChart(series("ingest_latency_p95_ms"), { label: "p95 latency" })),
      panel("Rejections by reason (last 10 min)", Object.keys(reasons).length
        ? barChart(Object.entries(reasons), { label: "rejections" }) : h("p", { class: "muted" }, "None.")),
      panel("Backlog per target", barChart(o.backlog.map((b) => [b.key.split("/").slice(1).join("/"), b.pending]), { label: "backlog" })),
      panel("Matched per rule, last minute", barChart(o.rules.map((r) => [r.name, r.matched_last_minute]), { label: "matched" })));
  }

  refresh();
  timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}
