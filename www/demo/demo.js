// coola-tracker demo page: plain ES module, no build step.
// The library comes from the built npm package, mounted at /pkg by the collector.
import init, { CoolaTracker, validateEvent } from "/pkg/web/coola_tracker.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const SHOWN_REQUESTS = 20;
const SHOWN_EVENTS = 20;

let tracker = null;     // the current CoolaTracker
let libReady = false;

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

const pretty = (v) => JSON.stringify(v, null, 2);
/** A FlushReport as JavaScript prints it: { sent: 3, failed: 0, pending: 0, requests: 1 }. */
const brief = (o) => `{ ${Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")} }`;
const pad = (n, w = 2) => String(n).padStart(w, "0");
function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const r = await fetch(path, { cache: "no-store", ...init });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(data?.error ?? `${path}: HTTP ${r.status}`);
  return data;
}

function setPill(node, text, kind) {
  node.textContent = text;
  node.className = `pill ${kind ?? ""}`.trim();
}

/** An error as the library reports it: name, code, field, message (and status/count if any). */
function describeError(e) {
  const out = { name: e?.name ?? typeof e, code: e?.code, field: e?.field, message: e?.message ?? String(e) };
  if (e?.status !== undefined) out.status = e.status;
  if (e?.count !== undefined) out.count = e.count;
  return out;
}

function errorBlock(e) {
  const d = describeError(e);
  if (d.code === undefined) return el("p", { class: "message bad", text: d.message }); // the page's own check
  const dl = el("dl", { class: "kv" });
  const add = (k, v, cls) => {
    if (v === undefined) return;
    dl.append(el("dt", { text: k }), el("dd", { class: cls }, el("code", { text: String(v) })));
  };
  add("code", d.code ?? "(none)", "bad");
  add("field", d.field ?? "(none)");
  add("type", d.name);
  add("status", d.status);
  add("count", d.count);
  return el("div", {}, dl, el("p", { class: "message", text: d.message }));
}

// ------------------------------------------------------------------ 1. tracker

function readOptions() {
  const f = $("setup-form").elements;
  const num = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
  return {
    appKey: f.appKey.value,
    endpoint: `${location.origin}/v3/{appKey}/track`,
    batchSize: num(f.batchSize),
    flushIntervalMs: num(f.flushIntervalMs),
    maxRetries: num(f.maxRetries),
    bodyFormat: f.bodyFormat.value,
    autoPageViews: f.autoPageViews.checked ? "history" : false,
    onError: (err) => logError(err),
  };
}

async function createTracker(event) {
  event.preventDefault();
  const result = $("setup-result");
  if (tracker) {
    // Replace the previous tracker: let it deliver what it holds, then free it.
    const old = tracker;
    tracker = null;
    try { await old.shutdown(); } catch { /* reported through onError */ }
    old.free();
  }
  try {
    tracker = new CoolaTracker(readOptions());
    result.className = "result-line ok";
    result.textContent = "Tracker created.";
  } catch (e) {
    tracker = null;
    const d = describeError(e);
    result.className = "result-line bad";
    result.textContent = `${d.code ?? d.name}${d.field ? ` (${d.field})` : ""}: ${d.message}`;
    if (d.field) $("setup-form").elements[d.field]?.focus();
  }
  refreshTrackerState();
}

function refreshTrackerState() {
  const live = !!tracker && !tracker.closed;
  for (const id of ["track-btn", "bad-nested", "bad-seconds", "flush-btn", "shutdown-btn"]) {
    $(id).disabled = !tracker;
  }
  $("shutdown-btn").disabled = !live;
  $("create-btn").textContent = tracker ? "Recreate tracker" : "Create tracker";
  $("pending").value = tracker ? String(tracker.pending) : "–";
  $("user-id").textContent = tracker ? tracker.userId : "–";
  $("session-id").textContent = tracker ? tracker.sessionId || "(none yet)" : "–";
  $("consent").disabled = !tracker;
  $("consent").checked = !tracker || !tracker.optedOut;
  for (const b of document.querySelectorAll(".nav-btn")) b.disabled = !tracker;
  $("queue-card").classList.toggle("closed", !!tracker && tracker.closed);
}

function updateEndpointPreview() {
  const key = $("opt-app-key").value;
  $("endpoint-preview").textContent = `${location.origin}/v3/${encodeURIComponent(key)}/track`;
}

// ------------------------------------------------------------------ 2. properties editor

const TYPES = ["string", "number", "boolean", "null"];
let rowSeq = 0;

function addRow(name = "", value = "", type = "string") {
  const n = ++rowSeq;
  const nameIn = el("input", { id: `prop-name-${n}`, class: "prop-name", value: name, autocomplete: "off", spellcheck: "false" });
  const valueIn = el("input", { id: `prop-value-${n}`, class: "prop-value", value: value, autocomplete: "off", spellcheck: "false" });
  const typeSel = el("select", { id: `prop-type-${n}`, class: "prop-type" },
    ...TYPES.map((t) => el("option", { value: t, text: t, selected: t === type })));
  const syncType = () => {
    valueIn.disabled = typeSel.value === "null";
    valueIn.placeholder = typeSel.value === "boolean" ? "true or false" : typeSel.value === "null" ? "null" : "";
  };
  typeSel.addEventListener("change", syncType);
  syncType();
  const remove = el("button", { type: "button", class: "icon", title: "Remove this property", "aria-label": `Remove property ${n}` }, "×");
  const tr = el("tr", {},
    el("td", {}, el("label", { for: nameIn.id, class: "visually-hidden", text: `Property ${n} name` }), nameIn),
    el("td", {}, el("label", { for: valueIn.id, class: "visually-hidden", text: `Property ${n} value` }), valueIn),
    el("td", {}, el("label", { for: typeSel.id, class: "visually-hidden", text: `Property ${n} type` }), typeSel),
    el("td", {}, remove));
  remove.addEventListener("click", () => { tr.remove(); });
  $("prop-rows").append(tr);
  return tr;
}

/** The rows as a properties object; throws a plain Error for a value that does not fit its type. */
function rowsToProps() {
  const props = {};
  for (const tr of $("prop-rows").rows) {
    const name = tr.querySelector(".prop-name").value;
    const raw = tr.querySelector(".prop-value").value;
    const type = tr.querySelector(".prop-type").value;
    if (name === "" && raw === "" && type === "string") continue; // blank row
    let v;
    if (type === "string") v = raw;
    else if (type === "number") v = raw.trim() === "" ? NaN : Number(raw); // NaN: the library says why
    else if (type === "boolean") {
      const t = raw.trim().toLowerCase();
      if (t !== "true" && t !== "false") throw new Error(`"${name}": a boolean must be true or false`);
      v = t === "true";
    } else v = null;
    props[name] = v;
  }
  return props;
}

function propsToRows(props) {
  $("prop-rows").replaceChildren();
  for (const [k, v] of Object.entries(props)) {
    const type = v === null ? "null" : typeof v;
    addRow(k, v === null ? "" : String(v), TYPES.includes(type) ? type : "string");
  }
  if (!$("prop-rows").rows.length) addRow();
}

const isFlat = (o) => Object.values(o).every((v) => v === null || ["string", "number", "boolean"].includes(typeof v));
const mode = () => ($("mode-json").checked ? "json" : "rows");

/** Grows the JSON textarea to its content, within limits. */
function fitJson() {
  const ta = $("props-json");
  ta.rows = Math.min(14, Math.max(4, ta.value.split("\n").length));
}

function showMode(m) {
  $("mode-note").textContent = "";
  $("mode-rows").checked = m === "rows";
  $("mode-json").checked = m === "json";
  $("rows-editor").hidden = m !== "rows";
  $("json-editor").hidden = m !== "json";
}

function switchMode() {
  if (mode() === "json") {
    let props = {};
    try { props = rowsToProps(); } catch { /* keep what parses */ }
    $("props-json").value = pretty(props);
    fitJson();
    showMode("json");
  } else {
    let props;
    try { props = JSON.parse($("props-json").value || "{}"); } catch { props = null; }
    if (!props || typeof props !== "object" || Array.isArray(props) || !isFlat(props)) {
      showMode("json");
      $("mode-note").textContent = "These properties cannot be shown as rows (not a flat JSON object): edit them as JSON.";
      return;
    }
    propsToRows(props);
    showMode("rows");
  }
}

function pageError(message) {
  const e = new Error(message);
  e.name = "Form";
  return e;
}

/** The event name and properties from the form; throws a page error for unreadable JSON. */
function readEvent() {
  const name = $("event-name").value;
  if (mode() === "rows") return { name, props: rowsToProps() };
  let props;
  try { props = JSON.parse($("props-json").value.trim() || "{}"); } catch (e) {
    throw pageError(`The properties are not valid JSON: ${e.message}`);
  }
  if (props === null || typeof props !== "object" || Array.isArray(props)) {
    throw pageError("The properties must be a JSON object { ... }.");
  }
  return { name, props };
}

// ------------------------------------------------------------------ 2b. tracking and the outcome

/** Renders the event as JSON, one line per property, marking the line of `field`. */
function renderEvent(name, props, field) {
  const pre = $("outcome-event");
  pre.replaceChildren();
  if (name === null) { pre.textContent = "–"; return; }
  const text = pretty({ event_name: name, properties: props ?? {} });
  for (const line of text.split("\n")) {
    const key = /^\s*"((?:[^"\\]|\\.)*)":/.exec(line)?.[1];
    const indent = line.length - line.trimStart().length;
    // The event's own keys sit at 2 spaces, its properties at 4; deeper lines are nested values.
    const hit = field != null && key !== undefined && indent <= 4 && JSON.parse(`"${key}"`) === field;
    if (hit) {
      pre.append(line.slice(0, indent), el("mark", { text: line.slice(indent) }), "\n");
    } else pre.append(line, "\n");
  }
}

function showOutcome(name, props, error, answer) {
  $("track-result").hidden = false;
  renderEvent(name, props, error?.field);
  const box = $("outcome-answer");
  const title = $("outcome-title");
  box.replaceChildren();
  $("track-result").classList.toggle("is-error", !!error);
  if (error) {
    title.textContent = error.code ? "Rejected by the tracker" : "Could not read the form";
    box.append(errorBlock(error));
  } else {
    title.textContent = answer.title;
    box.append(answer.node);
  }
}

function track(event) {
  event?.preventDefault();
  if (!tracker) return;
  let ev;
  try { ev = readEvent(); } catch (e) { showOutcome(null, null, e); return; }
  try {
    const id = tracker.track(ev.name, ev.props);
    if (id === "") {
      const node = el("p", { class: "message", id: "not-queued", text: "Validated but not queued: the visitor is opted out (track() returned \"\")." });
      showOutcome(ev.name, ev.props, null, { title: "Not queued", node });
      refreshTrackerState();
      return;
    }
    const node = el("div", {},
      el("dl", { class: "kv" },
        el("dt", { text: "event_id" }), el("dd", { class: "ok" }, el("code", { id: "event-id", text: id })),
        el("dt", { text: "session_id" }), el("dd", {}, el("code", { id: "event-session", text: tracker.sessionId || "(sessions off)" }))),
      el("p", { class: "message muted", text: "Queued. It leaves with the next full batch, the flush timer or Flush." }));
    showOutcome(ev.name, ev.props, null, { title: "Queued", node });
  } catch (e) {
    showOutcome(ev.name, ev.props, e);
  }
  refreshTrackerState();
}

/** validateEvent(): what would be sent, without queuing. The tracker fills user_id and the time. */
function checkOnly() {
  let ev;
  try { ev = readEvent(); } catch (e) { showOutcome(null, null, e); return; }
  const full = {
    event_name: ev.name,
    user_id: tracker?.userId || "preview-user",
    event_timestamp_epoch: Date.now(),
    ...ev.props,
  };
  try {
    const out = validateEvent(full);
    const node = el("div", {},
      el("p", { class: "message muted", text: "validateEvent() accepts it; as sent (user_id and time filled in here, as the tracker would):" }),
      el("pre", { class: "code small", text: pretty(out) }));
    showOutcome(ev.name, ev.props, null, { title: "Valid", node });
  } catch (e) {
    showOutcome(ev.name, ev.props, e);
  }
}

function tryBad(name, props) {
  $("event-name").value = name;
  $("props-json").value = pretty(props);
  fitJson();
  showMode("json");
  track();
}

// ------------------------------------------------------------------ 3. queue

async function flush() {
  if (!tracker) return;
  const t = tracker;
  $("flush-btn").disabled = true;
  $("flush-report").textContent = "flushing…";
  try {
    const report = await t.flush();
    $("flush-report").textContent = `flush() → ${brief(report)}`;
  } catch (e) {
    $("flush-report").textContent = `flush() threw ${brief(describeError(e))}`;
  } finally {
    $("flush-btn").disabled = !tracker;
    refreshTrackerState();
    poll();
  }
}

async function shutdown() {
  if (!tracker) return;
  $("shutdown-btn").disabled = true;
  $("flush-report").textContent = "shutting down…";
  try {
    const report = await tracker.shutdown();
    $("flush-report").textContent = `shutdown() → ${brief(report)}`;
  } catch (e) {
    $("flush-report").textContent = `shutdown() threw ${brief(describeError(e))}`;
  }
  $("setup-result").className = "result-line";
  $("setup-result").textContent = "Tracker shut down: track() now throws tracker_closed. Recreate it to go on.";
  refreshTrackerState();
  poll();
}

// ------------------------------------------------------------------ 3b. consent and navigation

function setConsent(e) {
  if (!tracker) return;
  if (e.target.checked) tracker.optIn();
  else tracker.optOut();
  refreshTrackerState();
}

/** In-page navigation as a single-page app does it; the tracker sees it through history. */
function navigate(button) {
  const url = new URL(location.href);
  if (button.dataset.view) {
    url.searchParams.set("view", button.dataset.view);
    url.hash = "";
    history.pushState({}, "", url);
  } else {
    location.hash = button.dataset.hash;
  }
  setTimeout(refreshTrackerState, 0);
}

// ------------------------------------------------------------------ 4/5/7. collector

let lastSig = "";

function renderRequests(list) {
  const body = $("requests-body");
  const sig = list.length ? `${list.length}:${list.at(-1).seq}:${list.at(-1).time}` : "0";
  if (sig === lastSig) return;
  lastSig = sig;
  body.replaceChildren();
  if (!list.length) {
    body.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "No requests yet." })));
    return;
  }
  for (const r of list.slice(-SHOWN_REQUESTS).reverse()) {
    const st = r.status || "—";
    const cls = r.status === 200 && r.outcome === "accepted" ? "ok" : r.outcome === "pending" ? "" : "bad";
    const detail = [r.error, r.warnings?.join("; "), r.duplicates ? `${r.duplicates} duplicate(s) ignored` : ""]
      .filter(Boolean).join(" · ");
    body.append(el("tr", { "data-seq": String(r.seq) },
      el("td", { class: "muted", text: String(r.seq) }),
      el("td", { text: clock(r.time) }),
      el("td", { class: "num", text: r.events ?? "?", title: r.events == null ? "not read: the body was not decoded" : undefined }),
      el("td", { class: "num", text: String(r.bytes) }),
      el("td", {}, el("span", { class: `badge ${cls}`, text: String(st) })),
      el("td", { class: "outcome-cell", title: detail || undefined },
        r.outcome, detail ? el("span", { class: "muted small", text: ` ${detail}` }) : "")));
  }
}

function renderStats(s) {
  const inj = Object.entries(s.failed_injected).filter(([, n]) => n).map(([k, n]) => `${k}×${n}`).join(" ");
  $("stats").textContent = `${s.requests} requests · ${s.accepted_requests} accepted · ${s.rejected_requests} rejected`
    + ` · ${s.events} events stored · ${s.duplicates} duplicates · ${s.bytes} bytes`
    + (inj ? ` · injected ${inj}` : "");
}

function renderControl(c) {
  const q = c.failNext.map((e) => (e.drop ? "drop" : e.status === 200 && e.body ? "200 status:false" : String(e.status ?? "pass"))).join(", ");
  $("fail-next").textContent = q || "none";
  $("share-500").checked = c.fail500 > 0;
  $("share-429").checked = c.fail429 > 0;
  $("share-drop").checked = c.drop > 0;
  $("share-slow").checked = c.delayMs[1] > 0;
}

let lastEventsSig = "";
function renderEvents(total, list) {
  const sig = `${total}:${list.at(-1)?._received_at ?? ""}`;
  if (sig === lastEventsSig) return;
  lastEventsSig = sig;
  $("events-count").textContent = `${total} event${total === 1 ? "" : "s"} stored`;
  $("events").textContent = pretty(list.slice().reverse());
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const [requests, stats, control] = await Promise.all([api("/requests"), api("/stats"), api("/control")]);
    const events = await api(`/events?since=${Math.max(0, stats.events - SHOWN_EVENTS)}`);
    renderRequests(requests);
    renderStats(stats);
    renderControl(control);
    renderEvents(stats.events, events);
    setPill($("collector-status"), `collector: ${location.host}`, "ok");
  } catch (e) {
    setPill($("collector-status"), `collector unreachable: ${e.message}`, "bad");
  } finally {
    polling = false;
    if (tracker) {
      $("pending").value = String(tracker.pending);
    }
  }
}

async function control(obj) {
  try {
    renderControl(await api("/control", obj));
  } catch (e) {
    setPill($("collector-status"), `control failed: ${e.message}`, "bad");
  }
}

async function queueNext(answer) {
  const current = await api("/control");
  await control({ failNext: [...current.failNext, answer] });
}

async function reset() {
  await api("/reset", {});
  lastSig = lastEventsSig = "";
  await poll();
}

// ------------------------------------------------------------------ 6. onError log

function logError(err) {
  const list = $("error-log");
  list.querySelector(".empty")?.remove();
  const d = describeError(err);
  const extra = [d.field && `field ${d.field}`, d.status !== undefined && `status ${d.status}`, d.count !== undefined && `${d.count} event(s)`]
    .filter(Boolean).join(" · ");
  list.prepend(el("li", {},
    el("time", { text: clock(Date.now()) }), " ",
    el("code", { class: "bad", text: d.code ?? d.name }),
    extra ? el("span", { class: "muted", text: ` ${extra}` }) : "",
    el("div", { class: "message", text: d.message })));
  while (list.children.length > 50) list.lastElementChild.remove();
}

// ------------------------------------------------------------------ wiring

function wire() {
  $("setup-form").addEventListener("submit", createTracker);
  $("opt-app-key").addEventListener("input", updateEndpointPreview);
  $("track-form").addEventListener("submit", track);
  $("add-row").addEventListener("click", () => addRow().querySelector("input").focus());
  $("mode-rows").addEventListener("change", switchMode);
  $("mode-json").addEventListener("change", switchMode);
  $("validate-btn").addEventListener("click", checkOnly);
  $("props-json").addEventListener("input", fitJson);
  $("bad-nested").addEventListener("click", () =>
    tryBad("checkout", { cart: { total: 42.5, items: 3 }, currency: "EUR" }));
  $("bad-seconds").addEventListener("click", () =>
    tryBad("signup", { plan: "pro", event_timestamp_epoch: Math.floor(Date.now() / 1000) }));
  $("flush-btn").addEventListener("click", flush);
  $("shutdown-btn").addEventListener("click", shutdown);
  $("consent").addEventListener("change", setConsent);
  for (const b of document.querySelectorAll(".nav-btn")) b.addEventListener("click", () => navigate(b));
  for (const b of document.querySelectorAll("[data-next]")) {
    b.addEventListener("click", () => queueNext(JSON.parse(b.dataset.next)).catch((e) => logError(e)));
  }
  $("share-500").addEventListener("change", (e) => control({ fail500: e.target.checked ? 0.3 : 0 }));
  $("share-429").addEventListener("change", (e) => control({ fail429: e.target.checked ? 0.1 : 0 }));
  $("share-drop").addEventListener("change", (e) => control({ drop: e.target.checked ? 0.05 : 0 }));
  $("share-slow").addEventListener("change", (e) => control({ delayMs: e.target.checked ? [200, 800] : 0 }));
  $("clear-inject").addEventListener("click", () => control({ fail500: 0, fail429: 0, drop: 0, delayMs: 0, failNext: [] }));
  $("clear-log").addEventListener("click", () => {
    $("error-log").replaceChildren(el("li", { class: "muted empty", text: "Nothing reported." }));
  });
  $("reset-btn").addEventListener("click", () => reset().catch((e) => setPill($("collector-status"), e.message, "bad")));

  addRow("path", "/pricing", "string");
  addRow("price", "9.99", "number");
  addRow("logged_in", "true", "boolean");
  updateEndpointPreview();
}

async function main() {
  wire();
  poll();
  setInterval(poll, POLL_MS);
  try {
    await init();
    libReady = true;
    setPill($("lib-status"), "library loaded", "ok");
    $("create-btn").disabled = false;
    $("validate-btn").disabled = false;
  } catch (e) {
    setPill($("lib-status"), `library failed to load: ${e.message}`, "bad");
  }
  document.body.dataset.ready = libReady ? "1" : "error";
}

main();
