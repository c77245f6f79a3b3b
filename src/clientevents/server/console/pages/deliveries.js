// Deliveries: per target, delivered, retrying, dead-lettered, with the last errors; the dead
// letters with their reason, redriven or purged from here after a confirmation.
import { api, canChange, clear, confirmAction, h, notice, query, when } from "../lib.js";

export function render(root) {
  const targets = h("tbody", { id: "targets-body" });
  const letters = h("tbody", { id: "dead-letters-body" });
  const filter = h("select", { id: "dlq-target", "aria-label": "Target" }, h("option", { value: "" }, "every target"));
  const total = h("span", { id: "dlq-total", class: "muted" });
  const selected = new Set();
  const admin = canChange();
  let timer = null;

  async function loadTargets() {
    const { targets: rows } = await api("GET", "/deliveries");
    clear(targets, rows.map((t) => h("tr", { dataset: { key: t.key } },
      h("td", {}, h("code", {}, t.key), t.configured ? null : h("div", { class: "muted" }, "not configured")),
      h("td", {}, t.type),
      h("td", { class: "num", dataset: { col: "delivered" } }, String(t.delivered)),
      h("td", { class: "num", dataset: { col: "pending" } }, String(t.pending)),
      h("td", { class: "num", dataset: { col: "retrying" } }, String(t.retrying)),
      h("td", { class: "num", dataset: { col: "dead" } }, String(t.dead_letters)),
      h("td", {}, t.last_error_code ? [h("strong", {}, t.last_error_code), " ", t.last_error_message, h("div", { class: "muted" }, when(t.last_error_at))] : "—"))));
    if (filter.options.length === 1) {
      for (const t of rows) filter.append(h("option", { value: t.key }, t.key));
    }
  }

  async function loadLetters() {
    const answer = await api("GET", "/dead-letters" + query({ target: filter.value, limit: 200 }));
    selected.clear();
    total.textContent = `${answer.total} dead letters` + (answer.entries.length < answer.total ? ` (first ${answer.entries.length} shown)` : "");
    clear(letters, answer.entries.map((e) => {
      const payload = h("tr", { class: "payload-row", hidden: true }, h("td", { colspan: 7 }, h("pre", { class: "payload" }, e.payload)));
      const box = h("input", { type: "checkbox", "aria-label": `select ${e.id}`, disabled: !admin, onchange: (ev) => {
        if (ev.target.checked) selected.add(e.id); else selected.delete(e.id);
      } });
      return [h("tr", { dataset: { id: String(e.id) } },
        h("td", {}, box),
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => { payload.hidden = !payload.hidden; } }, String(e.id))),
        h("td", {}, when(e.failed_at)),
        h("td", {}, h("code", {}, e.target_key)),
        h("td", {}, e.exhausted),
        h("td", { class: "num" }, String(e.attempts)),
        h("td", {}, h("strong", {}, e.error_code), " ", e.error_message)), payload];
    }));
  }

  async function act(kind) {
    const ids = [...selected];
    const body = ids.length ? { ids } : { all: true, target: filter.value || null };
    const what = ids.length ? `${ids.length} selected dead letter(s)` : `every dead letter of ${filter.value || "every target"}`;
    const verb = kind === "redrive" ? "Redrive" : "Purge";
    const detail = kind === "redrive"
      ? `Put ${what} back on their targets' queues as fresh deliveries?`
      : `Delete ${what} for good? This cannot be undone.`;
    if (!(await confirmAction(`${verb} dead letters`, detail, verb))) return;
    try {
      const answer = await api("POST", `/dead-letters/${kind}`, body);
      const skipped = answer.skipped ? Object.keys(answer.skipped).length : 0;
      notice(root, kind === "redrive"
        ? `Redriven: ${answer.redriven.length}` + (skipped ? `; skipped: ${skipped}` : "")
        : `Purged: ${answer.purged}`, "ok");
    } catch (err) {
      notice(root, err.message);
    }
    await refresh();
  }

  async function refresh() {
    try {
      await Promise.all([loadTargets(), loadLetters()]);
    } catch (err) {
      notice(root, err.message);
    }
  }

  filter.addEventListener("change", loadLetters);
  root.append(
    h("h2", {}, "Deliveries"),
    h("table", { class: "grid", id: "targets-table" },
      h("thead", {}, h("tr", {}, ["Target", "Type", "Delivered", "Pending", "Retrying", "Dead letters", "Last error"].map((t) => h("th", {}, t)))),
      targets),
    h("h2", {}, "Dead letters"),
    h("div", { class: "toolbar" },
      h("label", {}, "Target ", filter), total,
      h("button", { type: "button", id: "dlq-redrive", disabled: !admin, onclick: () => act("redrive") }, "Redrive"),
      h("button", { type: "button", id: "dlq-purge", class: "danger", disabled: !admin, onclick: () => act("purge") }, "Purge"),
      h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh"),
      admin ? null : h("span", { class: "muted" }, "read-only role")),
    h("p", { class: "muted" }, "Select entries to act on them; with none selected, the buttons act on every entry of the chosen target."),
    h("table", { class: "grid", id: "dead-letters-table" },
      h("thead", {}, h("tr", {}, ["", "Id", "Failed at", "Target", "Why", "Attempts", "Error"].map((t) => h("th", {}, t)))),
      letters));
  refresh();
  timer = setInterval(loadTargets, 3000);
  return () => clearInterval(timer);
}
