// Users: the user pool's users with their status; disable, enable, sign out everywhere.
import { api, canChange, clear, confirmAction, h, notice, query, when } from "../lib.js";

export function render(root) {
  const body = h("tbody", { id: "users-body" });
  const search = h("input", { id: "users-filter", placeholder: "username prefix", "aria-label": "Filter users" });
  const more = h("button", { type: "button", class: "secondary", id: "users-more", hidden: true }, "More");
  let token = null;

  async function act(username, kind, title, detail) {
    if (!(await confirmAction(title, detail, title))) return;
    try {
      await api("POST", `/users/${encodeURIComponent(username)}/${kind}`);
      notice(root, `${title}: ${username}`, "ok");
    } catch (err) {
      notice(root, err.message);
    }
    load(false);
  }

  async function load(append) {
    try {
      const answer = await api("GET", "/users" + query({ filter: search.value, page_token: append ? token : null }));
      token = answer.next_page_token || null;
      more.hidden = !token;
      const rows = answer.users.map((u) => h("tr", { dataset: { user: u.username } },
        h("td", {}, u.username),
        h("td", {}, u.status),
        h("td", { class: "enabled" }, u.enabled ? "enabled" : "disabled"),
        h("td", {}, u.email || "—"),
        h("td", {}, h("code", {}, u.client_id || "—")),
        h("td", {}, when(u.created_at)),
        h("td", { class: "actions" }, canChange() ? [
          u.enabled
            ? h("button", { type: "button", class: "danger", onclick: () => act(u.username, "disable", "Disable", `Disable ${u.username}? Their tokens stop working at once.`) }, "Disable")
            : h("button", { type: "button", onclick: () => act(u.username, "enable", "Enable", `Enable ${u.username}?`) }, "Enable"),
          h("button", { type: "button", class: "secondary", onclick: () => act(u.username, "sign-out", "Sign out everywhere", `End every session of ${u.username}?`) }, "Sign out everywhere"),
        ] : "")));
      if (append) body.append(...rows); else clear(body, rows);
    } catch (err) {
      notice(root, err.message);
    }
  }

  search.addEventListener("input", () => load(false));
  more.addEventListener("click", () => load(true));
  root.append(
    h("h2", {}, "Users"),
    h("div", { class: "toolbar" }, h("label", {}, "Filter ", search)),
    h("table", { class: "grid", id: "users-table" },
      h("thead", {}, h("tr", {}, ["Username", "Status", "Enabled", "E-mail", "clientId", "Created", ""].map((t) => h("th", {}, t)))),
      body),
    more);
  load(false);
}
