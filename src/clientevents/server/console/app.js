// The console's shell: sign-in, navigation between pages, the signed-in user.
import { api, clear, h, state } from "./lib.js";
import * as deliveries from "./pages/deliveries.js";
import * as overview from "./pages/overview.js";
import * as replays from "./pages/replays.js";
import * as rules from "./pages/rules.js";
import * as tail from "./pages/tail.js";
import * as users from "./pages/users.js";

const PAGES = { overview, tail, rules, deliveries, replays, users };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let cleanup = null;

function showSignIn(message) {
  if (cleanup) cleanup();
  cleanup = null;
  state.session = null;
  nav.hidden = true;
  clear(who);
  const error = h("p", { class: "notice error", role: "alert", hidden: !message }, message || "");
  const form = h("form", { class: "signin", id: "signin" },
    h("h2", {}, "Sign in"),
    h("label", {}, "Username", h("input", { name: "username", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit" }, "Sign in"),
    error,
    h("p", { class: "muted" }, "Console accounts are made with `clientevents console add-user`; on loopback, `clientevents serve` prints a one-time sign-in link."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      state.session = await api("POST", "/session", { username: data.get("username"), password: data.get("password") });
      await afterSignIn();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
  });
  clear(main, form);
}

async function afterSignIn() {
  // The browser keeps the Secure session cookie only over HTTPS or on loopback: check it did.
  try {
    state.session = await api("GET", "/session");
  } catch (err) {
    showSignIn("Signed in, but the browser did not keep the session cookie: open the console over HTTPS (or on 127.0.0.1 / localhost).");
    return;
  }
  nav.hidden = false;
  clear(who,
    h("span", { id: "whoami" }, `${state.session.username} (${state.session.role})`),
    h("button", { type: "button", class: "secondary", id: "signout", onclick: signOut }, "Sign out"));
  if (!location.hash || location.hash === "#" || location.hash.startsWith("#signin=")) {
    history.replaceState(null, "", "#/overview");
  }
  route();
}

async function signOut() {
  try {
    await api("DELETE", "/session");
  } finally {
    showSignIn("Signed out.");
  }
}

function route() {
  if (!state.session) return;
  const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || "overview";
  const page = PAGES[name] || overview;
  for (const link of nav.querySelectorAll("a")) {
    link.classList.toggle("active", link.dataset.page === name);
  }
  if (cleanup) cleanup();
  const root = h("section", { class: `page page-${name}`, id: `page-${name}` });
  clear(main, root);
  cleanup = page.render(root) || null;
}

window.addEventListener("hashchange", route);
window.addEventListener("signed-out", (e) => showSignIn(e.detail));

async function start() {
  const link = location.hash.startsWith("#signin=") ? location.hash.slice(8) : null;
  if (link) {
    history.replaceState(null, "", location.pathname + "#/overview");
    try {
      state.session = await api("POST", "/session", { link });
      await afterSignIn();
    } catch (err) {
      showSignIn(err.message);
    }
    return;
  }
  try {
    state.session = await api("GET", "/session");
    await afterSignIn();
  } catch (err) {
    showSignIn(err.status === 401 ? "" : err.message);
  }
}

start();
