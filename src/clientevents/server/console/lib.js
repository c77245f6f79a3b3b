// Shared helpers of the console: DOM building (text only, never HTML), the admin API, charts.
//
// Everything that comes from the server is put into the page with textContent or attributes
// that cannot run code; no string is ever parsed as HTML (the Content-Security-Policy requires
// Trusted Types, so an accidental innerHTML would throw instead of running).

export const state = { session: null, sandboxEvent: null };

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (state.session && state.session.csrf_token) headers["X-CSRF-Token"] = state.session.csrf_token;
  }
  const response = await fetch("/admin/api" + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.message ? data.message : `HTTP ${response.status}`;
    if (response.status === 401 && state.session && path !== "/session") window.dispatchEvent(new CustomEvent("signed-out", { detail: message }));
    throw new ApiError(response.status, data && data.code, message);
  }
  return data;
}

export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

export function when(epoch) {
  if (epoch === null || epoch === undefined) return "—";
  return new Date(epoch * 1000).toISOString().replace(".000Z", "Z");
}

export function fmt(n, digits = 1) {
  if (n === null || n === undefined) return "—";
  return Number.isInteger(n) ? String(n) : Number(n).toFixed(digits);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

export function canChange() {
  return state.session && state.session.role === "admin";
}

export function notice(root, text, kind = "error") {
  const box = h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  root.prepend(box);
  setTimeout(() => box.remove(), 8000);
  return box;
}

// A confirmation dialog; resolves true when confirmed.
export function confirmAction(title, detail, verb = "Confirm") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-label": title });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h("h3", {}, title),
      h("p", {}, detail),
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "secondary", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: "danger", "data-confirm": "yes", onclick: () => done(true) }, verb)),
    );
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

// -- charts: small SVG drawings ------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

// A line chart of one series; `values` may hold nulls (gaps).
export function lineChart(values, { width = 280, height = 60, label = "" } = {}) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label });
  const known = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(1e-9, ...known);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let d = "";
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const x = (i * step).toFixed(1);
    const y = (height - 4 - (v / max) * (height - 8)).toFixed(1);
    d += (d ? " L" : "M") + x + " " + y;
  });
  root.append(svg("line", { x1: 0, y1: height - 2, x2: width, y2: height - 2, class: "axis" }));
  if (d) root.append(svg("path", { d, class: "line" }));
  const title = svg("title");
  title.textContent = `${label} (max ${fmt(max, 2)})`;
  root.append(title);
  return root;
}

// Horizontal bars: [[label, value], ...].
export function barChart(pairs, { width = 280, barHeight = 16, label = "" } = {}) {
  const height = Math.max(barHeight, pairs.length * (barHeight + 4));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart bars", role: "img", "aria-label": label });
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  pairs.forEach(([name, value], i) => {
    const y = i * (barHeight + 4);
    const w = Math.max(1, (value / max) * (width * 0.4));
    root.append(svg("rect", { x: width * 0.5, y, width: w, height: barHeight, class: "bar" }));
    const text = svg("text", { x: 0, y: y + barHeight - 4, class: "bar-label" });
    const shown = String(name);
    text.textContent = shown.length > 24 ? shown.slice(0, 23) + "…" : shown;
    const full = svg("title");
    full.textContent = `${shown}: ${value}`;
    text.append(full);
    const count = svg("text", { x: width * 0.5 + w + 4, y: y + barHeight - 4, class: "bar-value" });
    count.textContent = fmt(value, 0);
    root.append(text, count);
  });
  return root;
}
