// Rules and the sandbox: each rule's pattern, targets and matched events per minute; paste or
// pick an event, edit a pattern, see match or why not, and what each target would receive.
import { api, h, lineChart, notice, pretty, state } from "../lib.js";

const SAMPLE_EVENT = {
  version: "0",
  id: "00000000-0000-4000-8000-000000000000",
  "detail-type": "prod",
  source: "clientevents",
  account: "000000000000",
  time: "2026-11-27T05:00:00Z",
  region: "local",
  resources: ["a-client-id"],
  detail: { eventType: "loyaltypurchase", schemaVersion: 2, data: { itemSku: 123 },
    ticket: { ticket: { subject: "Loyalty customer purchase" } } },
};

export function render(root) {
  const table = h("tbody", { id: "rules-body" });
  const ruleSelect = h("select", { id: "sandbox-rule", "aria-label": "Rule" }, h("option", { value: "" }, "(no rule: pattern only)"));
  const eventBox = h("textarea", { id: "sandbox-event", rows: 14, spellcheck: "false", "aria-label": "Event",
    value: pretty(state.sandboxEvent || SAMPLE_EVENT) });
  const patternBox = h("textarea", { id: "sandbox-pattern", rows: 6, spellcheck: "false", "aria-label": "Event pattern" });
  const result = h("div", { id: "sandbox-result", class: "result", "aria-live": "polite" });
  let rules = [];

  ruleSelect.addEventListener("change", () => {
    const rule = rules.find((r) => r.name === ruleSelect.value);
    if (rule) patternBox.value = pretty(rule.event_pattern);
  });

  async function test(e) {
    e.preventDefault();
    result.replaceChildren();
    let event;
    let pattern = null;
    try {
      event = JSON.parse(eventBox.value);
      if (patternBox.value.trim()) pattern = JSON.parse(patternBox.value);
    } catch (err) {
      result.append(h("p", { class: "notice error", role: "alert" }, `Not valid JSON: ${err.message}`));
      return;
    }
    try {
      const answer = await api("POST", "/sandbox", { event, pattern, rule: ruleSelect.value || null });
      result.append(h("p", { class: answer.matches ? "verdict match" : "verdict nomatch", id: "sandbox-verdict" },
        answer.matches ? "Match" : "No match"));
      if (!answer.matches) {
        result.append(h("h4", {}, "Why not"), h("ul", { class: "explain" }, answer.explanation.map((f) =>
          h("li", {}, h("code", {}, f.path), ": wanted ", h("code", {}, JSON.stringify(f.wanted)),
            ", had ", h("code", {}, f.had.length ? JSON.stringify(f.had) : "nothing"),
            f.note ? ` (${f.note})` : ""))));
      }
      if (answer.targets.length) {
        result.append(h("h4", {}, answer.matches ? "What each target receives" : "What each target would receive (had it matched)"));
        for (const t of answer.targets) {
          result.append(h("div", { class: "target-out" },
            h("strong", {}, `${t.id} (${t.type})`),
            t.error ? h("p", { class: "notice error" }, t.error) : h("pre", { class: "payload" }, t.payload)));
        }
      }
    } catch (err) {
      result.append(h("p", { class: "notice error", role: "alert" }, err.message));
    }
  }

  root.append(
    h("h2", {}, "Rules"),
    h("table", { class: "grid", id: "rules-table" },
      h("thead", {}, h("tr", {}, ["Rule", "Bus", "State", "Pattern", "Targets", "Matched / min (last hour)"].map((t) => h("th", {}, t)))),
      table),
    h("h2", {}, "Sandbox"),
    h("form", { class: "sandbox", id: "sandbox", onsubmit: test },
      h("label", {}, "Rule (its targets show what they would receive) ", ruleSelect),
      h("div", { class: "two" },
        h("label", {}, "Event", eventBox),
        h("label", {}, "Event pattern (empty: the rule's)", patternBox)),
      h("button", { type: "submit", id: "sandbox-test" }, "Test")),
    result);

  api("GET", "/rules").then((answer) => {
    rules = answer.rules;
    for (const rule of rules) {
      ruleSelect.append(h("option", { value: rule.name }, rule.name));
      table.append(h("tr", { dataset: { rule: rule.name } },
        h("td", {}, h("strong", {}, rule.name), rule.description ? h("div", { class: "muted" }, rule.description) : null),
        h("td", {}, rule.bus),
        h("td", {}, rule.state),
        h("td", {}, h("code", { class: "pattern" }, JSON.stringify(rule.event_pattern))),
        h("td", {}, h("ul", { class: "plain" }, rule.targets.map((t) => h("li", {}, h("code", {}, t.id), ` ${t.type}, ${t.shaping}`)))),
        h("td", { class: "rate" }, h("span", { class: "big" }, String(rule.matched_last_minute)),
          lineChart(rule.matched_per_minute, { width: 160, height: 36, label: `${rule.name} matched per minute` }))));
    }
  }).catch((err) => notice(root, err.message));
}
