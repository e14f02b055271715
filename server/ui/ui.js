// Steward operator console: a thin page over Steward's own HTTP API. The key stays in sessionStorage and goes
// in the x-api-key header of every call, so the API decides what this key may see and do; the page only hides
// what the key's roles cannot use. No build step, no third-party code.
"use strict";

const KEY = "steward.key";
let me = null; // {tenant, identity, roles}
let inbox = []; // pending approvals, as GET /approvals lists them
let stream = null; // AbortController of the live approvals stream
let renders = 0; // the latest render wins when several overlap (a decision and a live update, say)

// -- small helpers ---------------------------------------------------------------------------------------------
const $ = (selector, root = document) => root.querySelector(selector);

function h(tag, attrs = {}, ...children) {
  // An element with attributes and text/element children; text is always set as text, never as HTML.
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function say(message, bad = false) {
  const status = $("#status");
  status.textContent = message;
  status.classList.toggle("bad", bad);
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { "x-api-key": sessionStorage.getItem(KEY) || "" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const error = new Error((data && data.detail) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

const can = (...roles) => me !== null && me.roles.some((role) => role === "admin" || roles.includes(role));
const age = (seconds) =>
  seconds < 90 ? `${Math.round(seconds)} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
const shown = (v) => (typeof v === "object" ? JSON.stringify(v) : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : v);
const args = (values) => Object.entries(values || {}).map(([k, v]) => `${k}: ${shown(v)}`).join(", ");
const runLink = (threadId, text = "Run view") => h("a", { href: `#/run/${encodeURIComponent(threadId)}` }, text);

// -- log in, routing -------------------------------------------------------------------------------------------
async function route() {
  if (!sessionStorage.getItem(KEY)) return showLogin();
  if (me === null) {
    try {
      me = await api("/keys/me");
    } catch (error) {
      sessionStorage.removeItem(KEY);
      return showLogin(error.message);
    }
  }
  $("#login").hidden = true;
  $("#nav").hidden = $("#logout").hidden = $("#who").hidden = false;
  $("#who").textContent = `${me.identity} · tenant ${me.tenant} · ${me.roles.join(", ")}`;
  const [, page = "inbox", arg] = (location.hash || "#/inbox").split("/");
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${page}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const generation = ++renders;
  const fresh = h("div");
  const thread = page === "run" ? decodeURIComponent(arg || "") : "";
  try {
    if (page === "run") await renderRun(fresh, thread);
    else if (page === "escalations") await renderEscalations(fresh);
    else if (page === "overview") await renderOverview(fresh);
    else if (page === "controls") await renderControls(fresh);
    else await renderInbox(fresh);
  } catch (error) {
    fresh.append(h("p", { class: "error", role: "alert" }, error.message));
  }
  if (generation !== renders) return; // a later render is under way
  const view = $("#view");
  view.replaceChildren(...fresh.childNodes);
  view.dataset.page = page;
  view.dataset.thread = thread;
  if (page === "inbox") drawInbox();
  if (can("approver")) startStream();
}

function showLogin(problem = "") {
  me = null;
  $("#login").hidden = false;
  $("#nav").hidden = $("#logout").hidden = $("#who").hidden = true;
  $("#view").replaceChildren();
  $("#login-error").textContent = problem;
  $("#key").focus();
}

// -- the approvals inbox ---------------------------------------------------------------------------------------
async function renderInbox(view) {
  view.append(h("h2", {}, "Approvals waiting"));
  if (!can("approver")) {
    view.append(h("p", { class: "error", id: "no-role" }, `This key (${me.roles.join(", ")}) cannot see or decide approvals: that needs the approver or admin role.`));
    return;
  }
  inbox = await api("/approvals?limit=200");
  const body = h("tbody", { id: "inbox" });
  view.append(
    h("p", { class: "muted" }, "Oldest first. Updates live as requests arrive or are decided elsewhere."),
    h("div", { class: "scroll" },
      h("table", { class: "cards" },
        h("thead", {}, h("tr", {}, INBOX_COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
        body)),
    h("p", { id: "inbox-empty", class: "muted" }, "Nothing is waiting for a decision."),
  );
}

function drawInbox() {
  const body = $("#inbox");
  if (!body) return;
  const wanted = new Map(inbox.map((item) => [`${item.thread_id}:${item.interrupt_id}`, item]));
  for (const row of [...body.children]) if (!wanted.has(row.dataset.key)) row.remove(); // decided meanwhile
  const present = new Set([...body.children].map((row) => row.dataset.key));
  for (const [key, item] of wanted) if (!present.has(key)) body.append(inboxRow(key, item));
  $("#inbox-empty").hidden = inbox.length > 0;
}

const INBOX_COLUMNS = ["Waiting", "Workflow", "Action", "Rule, risk and reason", "Requested by", "Quorum", "Decide"];

function inboxRow(key, item) {
  const quorum = `${item.quorum.approved} of ${item.quorum.required}`;
  const cells = [
    [age(item.age_s)],
    [item.workflow],
    [h("strong", {}, item.action), h("div", { class: "args" }, args(item.args))],
    [h("code", {}, item.rule_id), " ", h("span", { class: `badge ${item.risk}` }, item.risk), h("div", {}, item.reason)],
    [item.requested_by],
    [quorum, item.quorum.approved_by.length ? h("div", { class: "muted" }, item.quorum.approved_by.join(", ")) : null],
    [decisionControls(item, () => route()), runLink(item.thread_id)],
  ];
  return h("tr", { "data-key": key, "data-thread": item.thread_id },
    cells.map((content, i) => h("td", { "data-label": INBOX_COLUMNS[i] }, content)));
}

// -- deciding: approve, edit (a form from the tool's input schema), reject --------------------------------------
function decisionControls(item, done) {
  const box = h("div", { class: "decide" });
  if (!can("approver")) return box;
  const slot = h("div");
  const decide = async (body, button) => {
    button.disabled = true;
    say(`Deciding ${item.action} on ${item.thread_id}…`);
    try {
      const result = await api(`/approvals/${encodeURIComponent(item.thread_id)}`, { method: "POST", body });
      const outcome = result.outcome ? `${result.outcome.status} (${result.outcome.reason_code})` : result.status;
      say(`${item.action}: ${body.type} recorded; the run is ${outcome}.`);
      done(result);
    } catch (error) {
      say(error.message, true);
      button.disabled = false;
      throw error;
    }
  };
  const allowed = item.allowed_decisions || ["approve", "edit", "reject"];
  if (allowed.includes("approve")) {
    box.append(h("button", { type: "button", onclick: (e) => decide({ type: "approve" }, e.currentTarget).catch(() => {}) }, "Approve"));
  }
  if (allowed.includes("edit") && item.args_schema) {
    box.append(h("button", { type: "button", class: "secondary", "aria-expanded": "false", onclick: (e) => toggle(e.currentTarget, () => editForm(item, decide)) }, "Edit"));
  }
  if (allowed.includes("reject")) {
    box.append(h("button", { type: "button", class: "danger", "aria-expanded": "false", onclick: (e) => toggle(e.currentTarget, () => rejectForm(item, decide)) }, "Reject"));
  }
  box.append(slot);
  function toggle(button, make) {
    const open = button.getAttribute("aria-expanded") === "true";
    for (const other of box.querySelectorAll("button[aria-expanded]")) other.setAttribute("aria-expanded", "false");
    slot.replaceChildren();
    if (!open) {
      button.setAttribute("aria-expanded", "true");
      const form = make();
      slot.append(form);
      form.querySelector("input, textarea, select")?.focus();
    }
  }
  return box;
}

function resolve(schema, prop) {
  const ref = prop.$ref && prop.$ref.split("/").pop();
  return ref ? (schema.$defs || {})[ref] || prop : prop;
}

function fieldKind(prop) {
  const options = prop.anyOf || prop.oneOf || [prop];
  if (options.some((o) => o.type === "number")) return { kind: "number", rule: options.find((o) => o.type === "number") };
  if (options.some((o) => o.type === "integer")) return { kind: "integer", rule: options.find((o) => o.type === "integer") };
  if (options.some((o) => o.type === "boolean")) return { kind: "boolean", rule: prop };
  const text = options.find((o) => o.type === "string") || prop;
  return { kind: text.enum ? "enum" : "string", rule: text };
}

function check(name, prop, raw, required) {
  // The field's value for the request, or {error} saying what is wrong (the same rules the server applies).
  const { kind, rule } = fieldKind(prop);
  const nullable = (prop.anyOf || []).some((o) => o.type === "null");
  if (raw === "" || raw === undefined) {
    return required && !nullable ? { error: `${name} is required` } : { value: null };
  }
  if (kind === "boolean") return { value: raw === true || raw === "true" };
  if (kind === "number" || kind === "integer") {
    const number = Number(raw);
    if (!/^-?\d+(\.\d+)?$/.test(String(raw).trim()) || Number.isNaN(number)) return { error: `${name} must be a number` };
    if (kind === "integer" && !Number.isInteger(number)) return { error: `${name} must be a whole number` };
    const bound = { ...prop, ...rule };
    if (bound.exclusiveMinimum !== undefined && !(number > bound.exclusiveMinimum)) return { error: `${name} must be more than ${bound.exclusiveMinimum}` };
    if (bound.minimum !== undefined && number < bound.minimum) return { error: `${name} must be at least ${bound.minimum}` };
    if (bound.exclusiveMaximum !== undefined && !(number < bound.exclusiveMaximum)) return { error: `${name} must be less than ${bound.exclusiveMaximum}` };
    if (bound.maximum !== undefined && number > bound.maximum) return { error: `${name} must be at most ${bound.maximum}` };
    return { value: String(raw).trim() };
  }
  const text = String(raw);
  if (rule.minLength !== undefined && text.length < rule.minLength) return { error: `${name} needs at least ${rule.minLength} characters` };
  if (rule.maxLength !== undefined && text.length > rule.maxLength) return { error: `${name} takes at most ${rule.maxLength} characters` };
  if (rule.pattern && !new RegExp(rule.pattern, "u").test(text)) return { error: `${name} is not in the expected format` };
  return { value: text };
}

function editForm(item, decide) {
  const schema = item.args_schema;
  const required = new Set(schema.required || []);
  const form = h("form", { class: "panel edit", novalidate: true });
  const base = `edit-${item.thread_id}`;
  const fields = [];
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const prop = resolve(schema, raw);
    const { kind, rule } = fieldKind(prop);
    const id = `${base}-${name}`;
    const current = item.args[name];
    const describedBy = `${id}-error`;
    let input;
    if (kind === "enum") {
      input = h("select", { id, name }, rule.enum.map((v) => h("option", { value: v, selected: v === current }, v)));
    } else if (kind === "boolean") {
      input = h("select", { id, name }, ["true", "false"].map((v) => h("option", { value: v, selected: String(current) === v }, v)));
    } else {
      input = h("input", { id, name, type: "text", inputmode: kind === "string" ? "text" : "decimal", value: current ?? "", "aria-describedby": describedBy });
    }
    const error = h("p", { class: "error", id: describedBy, role: "alert" });
    fields.push({ name, prop, input, error });
    form.append(h("label", { for: id }, prop.title || name, required.has(name) ? " *" : ""), input, error);
  }
  const formError = h("p", { class: "error", role: "alert", "data-role": "form-error" });
  form.append(h("div", {}, h("button", { type: "submit" }, "Submit edit"), formError));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    const edited = {};
    let firstBad = null;
    for (const { name, prop, input, error } of fields) {
      const result = check(name, prop, input.value, required.has(name));
      error.textContent = result.error || "";
      input.setAttribute("aria-invalid", result.error ? "true" : "false");
      if (result.error && !firstBad) firstBad = input;
      if (!result.error && result.value !== null) edited[name] = result.value;
    }
    if (firstBad) return firstBad.focus();
    try {
      await decide({ type: "edit", edited_action: { name: item.action, args: edited } }, event.submitter || form.querySelector("button"));
    } catch (error) {
      formError.textContent = error.message; // e.g. the policy would deny the edited arguments
    }
  });
  return form;
}

function rejectForm(item, decide) {
  const id = `reject-${item.thread_id}`;
  const message = h("textarea", { id, rows: 2, cols: 30, maxlength: 2000 });
  const form = h("form", { class: "panel reject" },
    h("label", { for: id }, "Message to the requester (optional)"), message,
    h("div", {}, h("button", { type: "submit", class: "danger" }, "Confirm reject")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { type: "reject" };
    if (message.value.trim()) body.message = message.value.trim();
    decide(body, event.submitter).catch(() => {});
  });
  return form;
}

// -- live updates: GET /approvals/stream (server-sent events, read with fetch so the key goes in a header) ---------
async function startStream() {
  if (stream) return;
  stream = new AbortController();
  const mine = stream;
  try {
    const response = await fetch("/approvals/stream", { headers: { "x-api-key": sessionStorage.getItem(KEY) || "", accept: "text/event-stream" }, signal: mine.signal });
    if (!response.ok) throw new Error(`${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const parts = buffer.split(/\r?\n\r?\n/);
      buffer = parts.pop();
      for (const part of parts) onEvent(part);
    }
  } catch (error) {
    if (error.name === "AbortError") return;
  }
  if (stream === mine) {
    stream = null;
    if (me) setTimeout(startStream, 2000);
  }
}

function onEvent(text) {
  let name = "message";
  const data = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (name !== "approvals") return;
  const before = new Set(inbox.map((i) => i.thread_id));
  inbox = JSON.parse(data.join("\n"));
  const page = $("#view").dataset.page;
  if (page === "inbox") drawInbox();
  if (page === "run") {
    const shown = $("#view").dataset.thread;
    if (before.has(shown) !== inbox.some((i) => i.thread_id === shown)) route(); // its request appeared or was decided
  }
}

// -- the run view ----------------------------------------------------------------------------------------------
async function renderRun(view, threadId) {
  const path = `/threads/${encodeURIComponent(threadId)}`;
  const [thread, history, events] = await Promise.all([
    api(path),
    api(`${path}/history`, { method: "POST", body: { limit: 200 } }),
    api(`${path}/audit`),
  ]);
  const workflow = thread.metadata.graph_id;
  const graph = workflow ? await api(`/assistants/${encodeURIComponent(workflow)}/graph`) : { nodes: [], edges: [] };
  const outcome = thread.values.outcome;
  const snapshots = [...history].reverse(); // oldest first
  const taken = snapshots.slice(0, -1).flatMap((s) => s.next || []);
  const current = thread.status === "interrupted" || thread.status === "busy" ? (history[0]?.next || [])[0] : null;
  view.append(
    h("h2", {}, `Run of ${workflow || "?"} · thread `, h("code", {}, threadId)),
    h("p", { id: "run-status" }, "Thread status: ", h("strong", {}, thread.status), " · outcome: ",
      outcome ? h("strong", { class: `outcome-${outcome.status}`, id: "run-outcome" }, `${outcome.status} (${outcome.reason_code})`) : h("span", { id: "run-outcome" }, "not yet"),
      outcome ? h("div", { class: "muted" }, outcome.reason) : null),
  );
  if (thread.status === "interrupted" && can("approver")) {
    const item = (await api("/approvals?limit=200")).find((i) => i.thread_id === threadId);
    if (item) {
      view.append(h("div", { class: "panel", id: "pending" },
        h("h3", {}, `Waiting for a decision: ${item.action}`),
        h("p", {}, h("code", {}, item.rule_id), " ", h("span", { class: `badge ${item.risk}` }, item.risk), ` ${item.reason} · quorum ${item.quorum.approved} of ${item.quorum.required} · requested by ${item.requested_by}`),
        h("p", { class: "args" }, args(item.args)),
        decisionControls(item, () => route())));
    }
  }
  view.append(h("div", { class: "cols" },
    h("div", {}, h("h3", {}, "Graph (path taken, current node)"), drawGraph(graph, taken, current)),
    h("div", {}, h("h3", {}, "Usage"), h("p", { class: "args" }, args(thread.values.usage)))));
  view.append(h("h3", {}, "Timeline"), timeline(events));
}

function drawGraph(graph, taken, current) {
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  const ids = graph.nodes.map((n) => n.id);
  // layers by longest path from the start, after setting aside the edges that loop back (depth first)
  const seen = new Map(); // node -> "open" while on the depth-first path, then "done"
  const back = new Set();
  const finished = [];
  const visit = (node) => {
    seen.set(node, "open");
    for (const edge of graph.edges.filter((e) => e.source === node)) {
      if (!seen.has(edge.target)) visit(edge.target);
      else if (seen.get(edge.target) === "open") back.add(edge);
    }
    seen.set(node, "done");
    finished.push(node);
  };
  visit("__start__");
  for (const id of ids) if (!seen.has(id)) visit(id);
  const layer = new Map();
  for (const node of finished.reverse()) {
    const from = graph.edges.filter((e) => e.target === node && !back.has(e) && layer.has(e.source));
    layer.set(node, Math.max(0, ...from.map((e) => layer.get(e.source) + 1)));
  }
  const rows = [];
  for (const id of ids) (rows[layer.get(id)] ||= []).push(id);
  const W = 150, H = 30, GX = 24, GY = 22, M = 70; // node size, gaps, margin for edges that skip or loop back
  const width = Math.max(...rows.filter(Boolean).map((r) => r.length)) * (W + GX) - GX + 2 * M;
  const height = rows.length * (H + GY) + GY;
  const pos = new Map();
  rows.forEach((row, y) => row && row.forEach((id, x) => {
    const offset = (width - row.length * (W + GX) + GX) / 2;
    pos.set(id, { x: offset + x * (W + GX), y: GY + y * (H + GY) });
  }));
  const svg = el("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `Workflow graph; path taken: ${taken.join(" → ") || "none yet"}${current ? `; now at ${current}` : ""}` });
  const visited = new Set(taken);
  const steps = new Set(taken.slice(1).map((t, i) => `${taken[i]}>${t}`));
  for (const edge of graph.edges) {
    const a = pos.get(edge.source), b = pos.get(edge.target);
    if (!a || !b) continue;
    const span = layer.get(edge.target) - layer.get(edge.source);
    const bend = Math.min(M - 6, 18 + 8 * Math.abs(span));
    let d = `M${a.x + W / 2},${a.y + H} L${b.x + W / 2},${b.y}`; // to the next layer
    if (span <= 0) { // loops back: around the right
      d = `M${a.x + W},${a.y + H / 2} C${a.x + W + bend},${a.y + H / 2} ${b.x + W + bend},${b.y + H / 2} ${b.x + W},${b.y + H / 2}`;
    } else if (span > 1 && a.x === b.x) { // skips layers in the same column: around the left
      d = `M${a.x},${a.y + H / 2} C${a.x - bend},${a.y + H / 2} ${b.x - bend},${b.y + H / 2} ${b.x},${b.y + H / 2}`;
    }
    svg.append(el("path", { d, class: steps.has(`${edge.source}>${edge.target}`) ? "edge-taken" : "", "stroke-dasharray": edge.conditional ? "4 3" : "" }));
  }
  for (const id of ids) {
    const p = pos.get(id);
    const g = el("g", { class: id === current ? "current" : visited.has(id) || (id === "__start__" && taken.length) ? "taken" : "", "data-node": id });
    g.append(el("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6 }));
    const label = el("text", { x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle" });
    label.textContent = id.replace(/^__(start|end)__$/, "$1");
    g.append(label);
    svg.append(g);
  }
  return svg;
}

function timeline(events) {
  const rows = events.map((e) => h("tr", { "data-type": e.type },
    h("td", {}, new Date(e.ts).toLocaleTimeString()),
    h("td", {}, e.step),
    h("td", {}, e.type === "model_call" ? "model" : e.type === "tool_call" ? "tool" : e.type),
    h("td", {}, e.status),
    h("td", {}, e.tool || (e.detail && e.detail.model) || ""),
    h("td", {}, e.rule_id ? h("code", {}, e.rule_id) : ""),
    h("td", {}, e.latency_ms == null ? "" : e.latency_ms.toFixed(1)),
    h("td", {}, e.tokens ?? ""),
    h("td", {}, e.cost_usd ?? ""),
    h("td", {}, e.reason || (e.detail && e.detail.decided_by ? `by ${e.detail.decided_by}` : ""))));
  return h("div", { class: "scroll" }, h("table", { id: "timeline" },
    h("thead", {}, h("tr", {}, ["Time", "Step", "Event", "Status", "Tool / model", "Rule", "ms", "Tokens", "USD", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows)));
}

// -- escalations, controls, overview ---------------------------------------------------------------------------
async function renderEscalations(view) {
  view.append(h("h2", {}, "Escalations"));
  if (!can("approver")) return view.append(h("p", { class: "error" }, "The escalation queue needs the approver or admin role."));
  const items = await api("/escalations?limit=100");
  if (!items.length) return view.append(h("p", { class: "muted" }, "The queue is empty."));
  const act = async (path, body) => {
    try { await api(path, { method: "POST", body }); say("Done."); route(); } catch (error) { say(error.message, true); }
  };
  view.append(h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["#", "Age", "Workflow", "Reason", "Status", "Notes", "Act"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map((item) => {
      const note = h("input", { id: `note-${item.id}`, type: "text" });
      const resolution = h("input", { id: `resolution-${item.id}`, type: "text", required: true });
      return h("tr", { "data-escalation": item.id },
        h("td", {}, item.id),
        h("td", {}, age(item.age_s)),
        h("td", {}, item.workflow),
        h("td", {}, h("code", {}, item.reason_code), h("div", {}, item.reason)),
        h("td", {}, item.status, item.assignee ? ` (${item.assignee})` : ""),
        h("td", {}, item.notes.map((n) => h("div", {}, `${n.by}: ${n.text}`))),
        h("td", {},
          h("button", { type: "button", onclick: () => act(`/escalations/${item.id}/take`) }, "Take"),
          runLink(item.thread_id),
          h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); act(`/escalations/${item.id}/notes`, { text: note.value }); } },
            h("label", { for: note.id }, "Note"), note, h("button", { type: "submit", class: "secondary" }, "Add")),
          h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); act(`/escalations/${item.id}/close`, { resolution: resolution.value }); } },
            h("label", { for: resolution.id }, "Resolution"), resolution, h("button", { type: "submit" }, "Close"))));
    })))));
}

async function renderControls(view) {
  view.append(h("h2", {}, "Controls"));
  if (!can("admin")) return view.append(h("p", { class: "error" }, "Controls need the admin role."));
  const [modes, switches, caps] = await Promise.all([api("/controls/modes"), api("/controls/kill-switches"), api("/controls/spend-caps")]);
  const act = async (path, method, body) => {
    try { await api(path, { method, body }); say("Saved."); route(); } catch (error) { say(error.message, true); }
  };
  const who = (x) => (x.set_by ? `${x.set_by}, ${new Date(x.set_at).toLocaleString()}` : "declared");
  view.append(h("h3", {}, "Operating modes"), h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Workflow", "Declared", "In force", "Set by, when", "Change"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, modes.map((m) => {
      const select = h("select", { id: `mode-${m.workflow}`, "aria-label": `Mode of ${m.workflow}` }, ["autopilot", "suggest", "shadow"].map((v) => h("option", { value: v, selected: v === m.mode }, v)));
      return h("tr", {}, h("td", {}, m.workflow), h("td", {}, m.declared), h("td", {}, h("strong", {}, m.mode)), h("td", {}, who(m)),
        h("td", {}, select, h("button", { type: "button", onclick: () => act(`/controls/modes/${m.workflow}`, "PUT", { mode: select.value }) }, "Set")));
    })))));
  const reason = h("input", { id: "switch-reason", type: "text", required: true });
  const workflow = h("select", { id: "switch-workflow" }, ["*", ...modes.map((m) => m.workflow)].map((v) => h("option", { value: v }, v)));
  const tool = h("input", { id: "switch-tool", type: "text", value: "*" });
  view.append(h("h3", {}, "Kill switches"), h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Workflow", "Tool", "Reason", "Set by, when", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, switches.map((s) => h("tr", {}, h("td", {}, s.workflow), h("td", {}, s.tool), h("td", {}, s.reason), h("td", {}, who(s)),
      h("td", {}, s.tenant === "*" ? "all tenants" : h("button", { type: "button", class: "secondary", onclick: () => act(`/controls/kill-switches?workflow=${encodeURIComponent(s.workflow)}&tool=${encodeURIComponent(s.tool)}`, "DELETE") }, "Clear"))))))),
  h("form", { class: "inline panel", onsubmit: (e) => { e.preventDefault(); act("/controls/kill-switches", "POST", { workflow: workflow.value, tool: tool.value || "*", reason: reason.value }); } },
    h("label", { for: "switch-workflow" }, "Workflow"), workflow, h("label", { for: "switch-tool" }, "Tool"), tool,
    h("label", { for: "switch-reason" }, "Reason"), reason, h("button", { type: "submit", class: "danger" }, "Stop writes")));
  const usd = h("input", { id: "cap-usd", type: "text", inputmode: "decimal", required: true });
  const capWorkflow = h("select", { id: "cap-workflow" }, ["*", ...modes.map((m) => m.workflow)].map((v) => h("option", { value: v }, v)));
  view.append(h("h3", {}, "Daily spend caps (USD, UTC day)"), h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Workflow", "Cap", "Spent today", "Set by, when", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, caps.map((c) => h("tr", {}, h("td", {}, c.workflow), h("td", {}, c.usd_per_day), h("td", {}, c.spent_today_usd), h("td", {}, who(c)),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => act(`/controls/spend-caps?workflow=${encodeURIComponent(c.workflow)}`, "DELETE") }, "Clear"))))))),
  h("form", { class: "inline panel", onsubmit: (e) => { e.preventDefault(); act("/controls/spend-caps", "PUT", { workflow: capWorkflow.value, usd_per_day: usd.value }); } },
    h("label", { for: "cap-workflow" }, "Workflow"), capWorkflow, h("label", { for: "cap-usd" }, "USD per day"), usd, h("button", { type: "submit" }, "Set cap")));
}

async function renderOverview(view) {
  view.append(h("h2", {}, "Overview: the last 24 hours"));
  if (!can("approver")) return view.append(h("p", { class: "error" }, "The overview needs the approver or admin role."));
  const rows = await api("/stats?since=24h");
  if (!rows.length) return view.append(h("p", { class: "muted" }, "No runs in the last 24 hours."));
  const pct = (v) => (v == null ? "–" : `${Math.round(v * 100)}%`);
  view.append(h("div", { class: "scroll" }, h("table", { id: "overview" },
    h("thead", {}, h("tr", {}, ["Workflow", "Cases", "Completed", "Escalated", "USD per completed", "p95 latency", "Pending approvals", "Oldest waiting"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-workflow": r.workflow },
      h("td", {}, r.workflow), h("td", {}, r.cases), h("td", {}, pct(r.completion_rate)), h("td", {}, pct(r.escalation_rate)),
      h("td", {}, r.cost_per_completed_usd ?? "–"), h("td", {}, r.latency_p95_s == null ? "–" : `${r.latency_p95_s} s`),
      h("td", {}, r.approvals_pending), h("td", {}, r.oldest_pending_s == null ? "–" : age(r.oldest_pending_s))))))));
}

// -- wiring ----------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("#key").value.trim());
    $("#key").value = "";
    me = null;
    route();
  });
  $("#logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    if (stream) stream.abort();
    stream = null;
    me = null;
    say("");
    location.hash = "#/inbox";
    showLogin();
  });
  window.addEventListener("hashchange", route);
  route();
});
