// Example Cloudflare Worker: a first-party collection endpoint.
//
// The page (served at "/") posts its events to "/collect"; the Worker adds
// who the visitor is (session_ip from CF-Connecting-IP, session_dua from
// User-Agent), validates and queues them with coola-tracker, answers at once,
// and forwards them to CoolaData in one batch per request through
// ctx.waitUntil. There is no timer (flushIntervalMs: 0): nothing relies on
// work outliving the request except what waitUntil holds open.
//
//   POST /collect   {"events":[{"event_name":"signup","plan":"pro"}, ...]}
//                   (or one event object; at most 300 a request)
//                   -> 202 {"accepted":["<event_id>",...],"rejected":[{index,code,field,message}]}
//
// Settings (wrangler.toml [vars] or secrets): COOLA_APP_KEY (required),
// COOLA_ENDPOINT (optional, e.g. a local collector in development).

import { CoolaTracker, visitorProperties } from "coola-tracker";

const MAX_EVENTS = 300;
const MAX_BODY = 1024 * 1024;

/** One tracker per isolate, made on the first request (env is known only then). */
let tracker = null;

function getTracker(env) {
  if (!tracker) {
    tracker = new CoolaTracker({
      appKey: env.COOLA_APP_KEY,
      endpoint: env.COOLA_ENDPOINT || undefined,
      flushIntervalMs: 0, // no timer at the edge: each request flushes through waitUntil
      sessionDua: false, // never the Worker's own user agent; the visitor's comes per event
      persist: false, // no localStorage here
      autoPageProperties: false,
      onError: (e) => console.warn(`coola-tracker: ${e.code}: ${e.message}`),
    });
  }
  return tracker;
}

const json = (body, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
  });

async function collect(request, env, ctx) {
  const length = Number(request.headers.get("Content-Length") || 0);
  if (length > MAX_BODY) return json({ error: "body too large" }, 413);
  let body;
  try {
    body = JSON.parse(await request.text());
  } catch {
    return json({ error: "the body must be JSON: {\"events\":[...]} or one event object" }, 400);
  }
  const events = Array.isArray(body?.events) ? body.events : body && typeof body === "object" ? [body] : [];
  if (events.length === 0) return json({ error: "no events" }, 400);
  if (events.length > MAX_EVENTS) return json({ error: `at most ${MAX_EVENTS} events a request` }, 413);

  const t = getTracker(env);
  // Who the visitor is: session_ip from CF-Connecting-IP ("0" when absent,
  // so CoolaData does not use the Worker's IP), session_dua from User-Agent.
  // Spread last, so that a page cannot claim another visitor's.
  const visitor = visitorProperties(request);
  const accepted = [];
  const rejected = [];
  events.forEach((event, index) => {
    if (!event || typeof event !== "object" || Array.isArray(event)) {
      rejected.push({ index, code: "invalid_value", message: "an event must be an object" });
      return;
    }
    const { event_name: name, session_ip: _ip, session_dua: _dua, ...properties } = event;
    // The tracker's own anonymous id would be the isolate's, shared by every
    // visitor it serves: the page must say who its user is.
    if (typeof properties.user_id !== "string" || properties.user_id === "") {
      rejected.push({ index, code: "missing_field", field: "user_id", message: "user_id is required" });
      return;
    }
    try {
      accepted.push(t.track(name, { ...properties, ...visitor }));
    } catch (e) {
      rejected.push({ index, code: e.code, field: e.field, message: e.message });
    }
  });
  // One batch for the events of this request (and any left from earlier
  // ones); the response does not wait for it.
  if (accepted.length) ctx.waitUntil(t.flush());
  return json({ accepted, rejected }, accepted.length ? 202 : 400);
}

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/collect") {
      if (request.method !== "POST") return json({ error: "POST events here" }, 405);
      return collect(request, env, ctx);
    }
    if (pathname === "/" && (request.method === "GET" || request.method === "HEAD")) {
      return new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
    }
    return json({ error: "not found" }, 404);
  },
};

// The page: it keeps an anonymous user id in localStorage, posts a page_view
// on load, a click per button press, and what is left when the page is hidden
// (keepalive, so the request survives the navigation).
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>coola-tracker Worker example</title>
</head>
<body>
<h1>coola-tracker at the edge</h1>
<p>Events go to this Worker's <code>/collect</code>, which forwards them to CoolaData.</p>
<button id="buy" data-plan="pro">Buy pro</button>
<button id="later">Queue an event for page hide</button>
<pre id="log" aria-live="polite"></pre>
<script type="module">
const log = (s) => (document.getElementById("log").textContent += s + "\\n");
let userId = "";
try {
  userId = localStorage.getItem("example:user_id") || "";
  if (!userId) localStorage.setItem("example:user_id", (userId = crypto.randomUUID()));
} catch { userId = crypto.randomUUID(); }
const queued = [];
const event = (event_name, props = {}) => ({ event_name, user_id: userId, page_url: location.href, ...props });
async function post(events, keepalive = false) {
  const r = await fetch("/collect", {
    method: "POST", keepalive,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ events }),
  });
  const out = await r.json();
  log(r.status + " " + JSON.stringify(out));
  return out;
}
window.collected = post([event("page_view", { page_title: document.title })]);
document.getElementById("buy").onclick = (e) => { window.collected = post([event("click", { plan: e.target.dataset.plan })]); };
document.getElementById("later").onclick = () => { queued.push(event("queued_click")); log("queued " + queued.length); };
addEventListener("pagehide", () => { if (queued.length) post(queued.splice(0), true); });
</script>
</body>
</html>
`;
