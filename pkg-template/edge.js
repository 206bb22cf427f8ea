// coola-tracker/edge: a first-party collector Worker on Cloudflare Queues.
//
//   import { createCollector } from "coola-tracker/edge";
//   export default createCollector(); // { fetch, queue }
//
// `fetch` takes what a tracker would send CoolaData on the site's own domain,
// validates it (the same wasm core as validateEvent), and puts the events on
// a Queue; `queue` delivers them to CoolaData. Every decision (options,
// routing and CORS, body format, validation, message packing, the check of
// queued events, regrouping, dedupe, ack / retry / dead letter, log lines,
// delays) is made by the wasm core
// (src/core/collector.rs, src/core/edge.rs); this file does the I/O.
// The wasm is a build of its own (cargo feature "edge"), so pages never load it.

import wasmModule from "./edge/coola_tracker_bg.wasm";
import { EdgeBatch, EdgeCollector, edgeAccept, initSync } from "./edge/coola_tracker.js";

initSync({ module: wasmModule });

// Workers keep at most 6 connections open at once per invocation.
const PARALLEL_REQUESTS = 6;
const REQUEST_TIMEOUT_MS = 30_000;

/** The `fetch` and `queue` handlers of a module Worker. */
export function createCollector(options) {
  // Options and routing are the wasm core's (src/core/collector.rs); URL
  // parsing (an allowed origin's normal form) is the platform's.
  const o = new EdgeCollector(options, (s) => new URL(s).origin);
  return {
    fetch: (request, env) => collect(o, request, env ?? {}),
    queue: (batch, env) => deliver(o, batch, env ?? {}),
  };
}

// ---- fetch: the pages' requests ----------------------------------------

const JSON_HEADERS = { "Content-Type": "application/json", "Cache-Control": "no-store" };

function answer(status, body, headers) {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** The body as text, or null when it is larger than `max` bytes. */
async function readBody(request, max) {
  const declared = Number(request.headers.get("Content-Length"));
  if (declared > max) return null;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

function scrub(text, secret) {
  const s = String(text);
  return typeof secret === "string" && secret !== "" ? s.split(secret).join("{appKey}") : s;
}

const PREFLIGHT = {
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type",
  "Access-Control-Max-Age": "86400",
};

async function collect(o, request, env) {
  const url = new URL(request.url);
  const origin = request.headers.get("Origin") ?? undefined;
  const route = o.route(request.method, url.pathname, origin, url.origin);
  const cors = o.cors(origin, url.origin)
    ? { "Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "Retry-After", Vary: "Origin" }
    : { Vary: "Origin" };
  if (route === 404) return answer(404, { status: false, error: "not found" });
  if (route === 403) return answer(403, { status: false, error: "this origin may not send events here" }, cors);
  if (route === 204) return new Response(null, { status: 204, headers: { ...cors, ...PREFLIGHT } });
  if (route === 405) return answer(405, { status: false, error: "POST events here" }, { ...cors, Allow: "POST, OPTIONS" });
  // Settings that could deliver nothing (no app key, an endpoint fetch
  // cannot use): 503, so the pages keep their events; logged once.
  const problem = o.problem(env, true);
  if (problem !== undefined) {
    if (problem) console.error(`coola-tracker/edge: ${problem}; answering 503 (the pages keep their events) until it is fixed`);
    return answer(503, { status: false, error: "the collector is not set up; retry later" }, { ...cors, "Retry-After": String(o.setupRetry) });
  }
  const body = await readBody(request, o.maxBodyBytes);
  if (body === null) return answer(413, { status: false, error: `the body is over ${o.maxBodyBytes} bytes` }, cors);
  // The headers as given ("" when absent): edgeAccept decides, by the rule
  // of visitorProperties.
  const ip = request.headers.get("CF-Connecting-IP") ?? "";
  const ua = request.headers.get("User-Agent") ?? "";
  const accepted = edgeAccept(body, Date.now(), ip, ua);
  if (accepted.errors) return answer(400, { status: false, errors: accepted.errors }, cors);
  const queue = env[o.queue];
  try {
    if (!queue || typeof queue.sendBatch !== "function") throw new Error(`no Queue producer bound as ${o.queue}`);
    await Promise.all(accepted.sends.map((call) => queue.sendBatch(call.map((m) => ({ body: m, contentType: "text" })))));
  } catch (e) {
    console.error(`coola-tracker/edge: the queue refused ${accepted.events} events: ${scrub(e?.message ?? e, env[o.appKeyVar])}`);
    return answer(503, { status: false, error: "the queue is unavailable; retry later" }, { ...cors, "Retry-After": String(o.queueRetryAfter) });
  }
  return answer(200, { status: true }, cors);
}

// ---- queue: delivery to CoolaData --------------------------------------

/** A message body as text: ours are strings; others as JSON or UTF-8. */
function text(body) {
  if (typeof body === "string") return body;
  try {
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return new TextDecoder().decode(body);
    return JSON.stringify(body) ?? "";
  } catch (_) {
    return "";
  }
}

async function post(url, body) {
  try {
    const r = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body,
      // Never followed: fetch would follow a 301/302/303 as a GET without
      // the body, and its 200 acknowledges nothing. A 3xx is a failed try
      // (the core retries it); workerd has no redirect: "error".
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const response = await r.text();
    let statusFalse = false;
    try {
      const j = JSON.parse(response);
      statusFalse = j !== null && typeof j === "object" && j.status === false;
    } catch (_) {}
    const h = (name) => r.headers.get(name) || "";
    return { status: r.status, statusFalse, retryAfter: h("Retry-After"), location: h("Location"), response };
  } catch (_) {
    // Refused, dropped, timed out, or the body cut off: a network error.
    return { status: 0, statusFalse: false, retryAfter: "", location: "", response: "" };
  }
}

function random() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

async function deliver(o, batch, env) {
  const messages = batch.messages;
  // A setup problem: every message retried (none acked or dead-lettered), logged each batch.
  const problem = o.problem(env, false);
  if (problem !== undefined) {
    console.error(`coola-tracker/edge: ${problem}; retrying ${messages.length} messages in ${o.setupRetry} s`);
    for (const m of messages) m.retry({ delaySeconds: o.setupRetry });
    return;
  }
  const appKey = env[o.appKeyVar];
  const value = env[o.endpointVar];
  const endpoint = o.url(typeof value === "string" ? value : undefined, appKey);
  const plan = new EdgeBatch(messages.map((m) => text(m.body)));
  try {
    // Up to PARALLEL_REQUESTS at once. An answer may add requests (a 413
    // splits its request in halves, to be posted now): each answer refills.
    let next = 0;
    const inFlight = new Set();
    const fill = () => {
      while (inFlight.size < PARALLEL_REQUESTS && next < plan.requests) {
        const r = next++;
        const p = post(endpoint, plan.body(r)).then((a) => {
          inFlight.delete(p);
          const line = o.answer(plan, r, a.status, a.statusFalse, a.retryAfter, a.location, a.response, appKey, Date.now());
          if (line !== undefined) console.error(`coola-tracker/edge: ${line}`);
          fill();
        });
        inFlight.add(p);
      }
    };
    fill();
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    const dlq = env[o.deadLetterQueue];
    const bound = !!dlq && typeof dlq.send === "function";
    await Promise.all(
      messages.map(async (m, i) => {
        const out = o.outcome(plan, i, m.attempts ?? 1, random(), bound);
        if (out.ack) return m.ack();
        if (out.retry !== undefined) return m.retry({ delaySeconds: out.retry });
        // Dead letters (CoolaData refused them, the collector's own check
        // refused them, or the message is none of ours), then the ack.
        for (const d of out.dead) {
          if (bound) {
            try {
              await dlq.send(d.body, { contentType: "text" });
            } catch (e) {
              console.error(`coola-tracker/edge: the dead-letter queue refused a message: ${scrub(e?.message ?? e, appKey)}`);
              return m.retry({ delaySeconds: o.setupRetry });
            }
          }
          if (d.line !== undefined) console.warn(`coola-tracker/edge: ${scrub(bound ? d.line : `${d.line}: ${d.body}`, appKey)}`);
        }
        m.ack();
      }),
    );
  } finally {
    plan.free();
  }
}
