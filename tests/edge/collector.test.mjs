// coola-tracker/edge in workerd through Miniflare, from the packed tarball:
// every HTTP rule of api.md ("Edge collection") and every consumer rule,
// against the local collector as CoolaData. The Worker is
// tests/edge/fixtures/worker.js (createCollector, plus a view of the
// consumer's ack()/retry() calls); dead letters land in fixtures/dlq.js.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { APP, edgeProject, nodeBuild, startCollector, startFixture, stdio, waitFor } from "./helpers.mjs";

let app;
let collector;
let edge;
let tracker; // the Node build: bodies exactly as the tracker makes them
const logs = stdio();
const responses = []; // every response's headers and body, to look for the app key

before(async () => {
  [app, collector] = await Promise.all([edgeProject(), startCollector({ port: 0 })]);
  [edge, tracker] = await Promise.all([startFixture(app, collector, { logs }), nodeBuild(app)]);
});

after(async () => {
  await edge?.mf.dispose();
  await collector?.close();
  app?.remove();
});

let seq = 0;
const event = (props = {}) => ({
  event_name: "page_view",
  user_id: "visitor-1",
  event_timestamp_epoch: Date.now(),
  event_id: `ev-${++seq}-${Math.random().toString(36).slice(2)}`,
  ...props,
});
const form = (events) => tracker.encodeBatch(events);

async function send(path, body, headers) {
  const r = await edge.post(path, body, headers);
  const text = await r.text();
  responses.push(JSON.stringify([...r.headers]) + text);
  return { status: r.status, headers: r.headers, text, json: text ? JSON.parse(text) : null };
}

async function fetchRaw(path, init) {
  const r = await edge.mf.dispatchFetch(`http://example.com${path}`, init);
  const text = await r.text();
  responses.push(JSON.stringify([...r.headers]) + text);
  return { status: r.status, headers: r.headers, text };
}

const ids = (events) => events.map((e) => e.event_id);
const arrived = (wanted) =>
  waitFor(
    () => {
      const have = new Set(ids(collector.events({ app: APP })));
      return wanted.every((id) => have.has(id));
    },
    { timeout: 20_000, what: `${wanted.length} events at the collector` },
  );

/**
 * Posts a marker event and waits for it: events queued before it (by an
 * earlier request) would have been delivered with or before it.
 */
async function marker() {
  const m = event({ event_name: "marker" });
  assert.equal((await send("/collect", form([m]))).status, 200);
  await arrived([m.event_id]);
}

test("200 only once queued; session_ip / session_dua from the visitor's headers where the event has none", async () => {
  collector.reset();
  const events = [event(), event({ session_dua: "AppClient/3" }), event({ session_ip: "198.51.100.4", paid: true })];
  const r = await send("/collect", form(events), { "CF-Connecting-IP": "203.0.113.7", "User-Agent": "Visitor/1.0" });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: true });
  await arrived(ids(events));
  const got = Object.fromEntries(collector.events({ app: APP }).map((e) => [e.event_id, e]));
  const [a, b, c] = events.map((e) => got[e.event_id]);
  assert.equal(a.session_ip, "203.0.113.7");
  assert.equal(a.session_dua, "Visitor/1.0");
  assert.equal(b.session_dua, "AppClient/3", "the event's own session_dua is kept");
  assert.equal(c.session_ip, "198.51.100.4", "the event's own session_ip is kept");
  assert.equal(c.paid, "true", "validated as validateEvent does");
});

test('session_ip is "0" without CF-Connecting-IP; raw and plain JSON bodies are read too', async () => {
  collector.reset();
  const raw = [event()];
  const plain = [event()];
  assert.equal((await send("/collect", tracker.encodeBatch(raw, { bodyFormat: "raw" }), { "X-Test-Strip": "CF-Connecting-IP, User-Agent" })).status, 200);
  assert.equal((await send("/collect", JSON.stringify({ events: plain }), { "Content-Type": "application/json" })).status, 200);
  await arrived([...ids(raw), ...ids(plain)]);
  const got = collector.events({ app: APP }).find((e) => e.event_id === raw[0].event_id);
  assert.equal(got.session_ip, "0");
  assert.equal(got.session_dua, undefined, "no User-Agent, no session_dua");
});

test("400 with one error per bad event (validateEvent's codes, the collector's clock) and nothing queued", async () => {
  collector.reset();
  const bad = [
    event(),
    event({ cart: { items: 2 } }),
    event({ user_id: undefined }),
    event({ event_timestamp_epoch: Date.now() - 40 * 86_400_000 }),
    event({ uid: "x" }),
  ];
  // The Node build validates too: write the body by hand, as a broken client would.
  const json = JSON.stringify({ events: bad });
  const r = await send("/collect", "data=" + encodeURIComponent(json));
  assert.equal(r.status, 400);
  // Each entry's message is validateEvent's for the same event.
  const why = (i) => {
    try {
      tracker.validateEvent(bad[i], { nowMs: Date.now() });
    } catch (e) {
      return e.message;
    }
  };
  assert.deepEqual(r.json, {
    status: false,
    errors: [
      { index: 1, code: "nested_property", field: "cart", message: why(1) },
      { index: 2, code: "missing_field", field: "user_id", message: why(2) },
      // (The age in it is by the collector's clock: compared below.)
      { index: 3, code: "timestamp_out_of_window", field: "event_timestamp_epoch", message: r.json.errors[2]?.message },
      { index: 4, code: "reserved_property", field: "uid", message: why(4) },
    ],
  });
  for (const e of r.json.errors) assert.ok(typeof e.message === "string" && e.message.length > 10, JSON.stringify(e));
  const age = (m) => m.replace(/is 40 d[^:]* in the past/, "is 40 d in the past");
  assert.equal(age(r.json.errors[2].message), age(why(3)));
  assert.match(r.json.errors[2].message, /is 40 d.* in the past: CoolaData's limit is 30 days/);
  // The body as a whole: one entry with index null, each case its own message.
  const messages = [];
  const bodies = ["", "data=%7B%ZZ", "hello", "data=%7Bnot%20json", "data=" + encodeURIComponent("[1,2]"), JSON.stringify([event()]), "data=" + encodeURIComponent('{"evts":[]}'), "data=" + encodeURIComponent('{"events":[]}')];
  for (const body of bodies) {
    const e = await send("/collect", body);
    assert.equal(e.status, 400, body);
    const [only, ...rest] = e.json.errors;
    assert.deepEqual([e.json.status, only.index, only.code, only.field, rest], [false, null, "invalid_value", null, []], body);
    messages.push(only.message);
  }
  assert.deepEqual(messages, [
    'the body is empty: send data=<JSON> of {"events":[...]}',
    "the body is not data=<JSON>, nor the JSON raw or percent-encoded",
    "the body is not data=<JSON>, nor the JSON raw or percent-encoded",
    "the body's JSON does not parse",
    'the JSON is a bare array: send {"events":[...]}',
    'the JSON is a bare array: send {"events":[...]}',
    'the JSON must be {"events":[...]}',
    "the request holds no event",
  ]);
  const many = await send("/collect", "data=" + encodeURIComponent(JSON.stringify({ events: Array.from({ length: 301 }, () => event()) })));
  assert.equal(many.status, 400);
  assert.equal(many.json.errors[0].code, "batch_too_large");
  await marker();
  const arrivedIds = new Set(ids(collector.events({ app: APP })));
  assert.ok(!arrivedIds.has(bad[0].event_id), "the good event of a refused request is not queued either");
});

test("413 over maxBodyBytes (1 MiB by default), 405 for other methods, 404 for other paths", async () => {
  const big = await send("/collect", "data=" + "x".repeat(1_048_576));
  assert.equal(big.status, 413);
  const justUnder = "data=" + encodeURIComponent(JSON.stringify({ events: [event({ pad: "y".repeat(90_000) })] }));
  assert.equal((await send("/collect", justUnder)).status, 200);
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    const r = await fetchRaw("/collect", { method, body: method === "GET" ? undefined : "x" });
    assert.equal(r.status, 405, method);
    assert.match(r.headers.get("Allow"), /POST/);
  }
  for (const path of ["/", "/collect/", "/collectx", "/v3/x/track"]) {
    assert.equal((await send(path, form([event()]))).status, 404, path);
  }
});

test("a body near 1 MiB becomes messages and sendBatch calls within Queues' limits, and all of it arrives", async () => {
  collector.reset();
  await edge.log();
  // 300 events of ~3.1 KB: about 930 KB, more than one message (128 KB) or
  // one sendBatch call (256 KB) holds. Miniflare enforces both limits: a
  // message or call over them would throw, and the Worker would answer 503.
  const events = Array.from({ length: 300 }, () => event({ pad: "y".repeat(3000) }));
  const body = form(events);
  assert.ok(body.length > 900_000 && body.length < 1_048_576, `${body.length} bytes`);
  const r = await send("/collect", body);
  assert.equal(r.status, 200, r.text);
  await arrived(ids(events));
  const consumed = (await edge.log()).filter((l) => l.batch === "coola-events").reduce((n, l) => n + l.size, 0);
  assert.ok(consumed >= 8, `${consumed} messages for ~930 KB (at most 120 KB each)`);
});

test("403 for a foreign origin, preflight included; CORS for allowed ones; own origin and no Origin accepted", async () => {
  const body = form([event()]);
  const evil = await send("/collect", body, { Origin: "https://evil.example" });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get("Access-Control-Allow-Origin"), null);
  const evilPre = await fetchRaw("/collect", {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
  });
  assert.equal(evilPre.status, 403);
  assert.equal((await send("/collect", body, { Origin: "null" })).status, 403, 'an opaque "null" origin is foreign');

  const pre = await fetchRaw("/collect", {
    method: "OPTIONS",
    headers: { Origin: "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("Access-Control-Allow-Origin"), "https://shop.example");
  assert.match(pre.headers.get("Access-Control-Allow-Methods"), /POST/);
  assert.match(pre.headers.get("Access-Control-Allow-Headers"), /content-type/i);
  const allowed = await send("/collect", form([event()]), { Origin: "https://shop.example" });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers.get("Access-Control-Allow-Origin"), "https://shop.example");
  assert.match(allowed.headers.get("Access-Control-Expose-Headers"), /Retry-After/);
  assert.match(allowed.headers.get("Vary"), /Origin/);

  assert.equal((await send("/collect", form([event()]), { Origin: "http://example.com" })).status, 200, "own origin");
  assert.equal((await send("/collect", form([event()]))).status, 200, "no Origin");
});

test("503 with Retry-After when the queue throws, and nothing queued", async () => {
  collector.reset();
  const lost = [event()];
  const r = await send("/collect", form(lost), { "X-Test-Queue": "throws", Origin: "https://shop.example" });
  assert.equal(r.status, 503);
  assert.ok(Number(r.headers.get("Retry-After")) > 0, "Retry-After in seconds");
  assert.equal(r.headers.get("Access-Control-Allow-Origin"), "https://shop.example", "readable by the page");
  await marker();
  assert.ok(!ids(collector.events({ app: APP })).includes(lost[0].event_id));
});

test("createCollector checks its options (invalid_option with the field)", async () => {
  const r = await edge.mf.dispatchFetch("http://example.com/__options", {
    method: "POST",
    body: JSON.stringify([{}, { path: "collect" }, { allowedOrigins: "https://x" }, { allowedOrigins: ["not a url"] }, { maxBodyBytes: 0 }, { queue: "" }, { retryBaseSeconds: 1.5 }, { retryMaxSeconds: 301 }]),
  });
  const out = (await r.json()).map((o) => o && { error: o.error, code: o.code, field: o.field });
  assert.deepEqual(out, [
    null,
    { error: true, code: "invalid_option", field: "path" },
    { error: true, code: "invalid_option", field: "allowedOrigins" },
    { error: true, code: "invalid_option", field: "allowedOrigins" },
    { error: true, code: "invalid_option", field: "maxBodyBytes" },
    { error: true, code: "invalid_option", field: "queue" },
    { error: true, code: "invalid_option", field: "retryBaseSeconds" },
    { error: true, code: "invalid_option", field: "retryMaxSeconds" },
  ]);
});

test("createCollector refuses a misspelt option name (invalid_option, field the name) rather than ignore it", async () => {
  const r = await edge.mf.dispatchFetch("http://example.com/__options", {
    method: "POST",
    body: JSON.stringify([{ allowedOrigin: ["https://shop.example"] }, { path: "/c", maxBodyByte: 10 }, { deadLetterQueue: "D", DeadLetterQueue: "D" }]),
  });
  assert.deepEqual(await r.json(), [
    { error: true, code: "invalid_option", field: "allowedOrigin", message: '"allowedOrigin": not an option (check its spelling)' },
    { error: true, code: "invalid_option", field: "maxBodyByte", message: '"maxBodyByte": not an option (check its spelling)' },
    { error: true, code: "invalid_option", field: "DeadLetterQueue", message: '"DeadLetterQueue": not an option (check its spelling)' },
  ]);
});

// ---- the consumer ------------------------------------------------------

/**
 * The consumer's ack()/retry() log, read until `done(entries)` holds: events
 * reach the collector before the consumer has read CoolaData's answer.
 */
async function logUntil(done, what) {
  const entries = [];
  await waitFor(
    async () => {
      entries.push(...(await edge.log()));
      return done(entries);
    },
    { timeout: 20_000, what },
  );
  return entries;
}

const requestsFor = (wanted) => {
  const want = new Set(wanted);
  // Requests whose events are among `wanted` (a request is summarised by its event count and seq).
  const seqs = new Set(collector.events({ app: APP }).filter((e) => want.has(e.event_id)).map((e) => e._request));
  return collector.requests().filter((r) => seqs.has(r.seq));
};

test("the consumer regroups messages into CoolaData requests of at most 300 events", async () => {
  collector.reset();
  await edge.log();
  // 40 pages' requests of 20 events: 40 messages, 800 events.
  const batches = Array.from({ length: 40 }, () => Array.from({ length: 20 }, () => event()));
  const answers = await Promise.all(batches.map((b) => send("/collect", form(b))));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  const all = batches.flat();
  await arrived(ids(all));
  const reqs = requestsFor(ids(all));
  assert.ok(reqs.every((r) => r.events <= 300), `events per request: ${reqs.map((r) => r.events)}`);
  const consumed = (await edge.log()).filter((l) => l.batch === "coola-events");
  assert.ok(reqs.length < 40, `${reqs.length} requests for 40 messages: regrouped`);
  assert.ok(reqs.length <= Math.ceil(800 / 300) + consumed.length, `${reqs.length} requests, ${consumed.length} batches`);
  assert.equal(collector.stats().duplicates, 0);
});

test("acks only what CoolaData acknowledged; retries 503 / 429 honouring Retry-After", async () => {
  for (const [status, retryAfter] of [
    [503, 2],
    [429, 1],
  ]) {
    collector.reset();
    await edge.log();
    const a = Array.from({ length: 300 }, () => event());
    const b = Array.from({ length: 300 }, () => event());
    // One of the two requests (the first to arrive) fails; the other is acknowledged.
    collector.control({ failNext: [{ status, retryAfter }] });
    await Promise.all([send("/collect", form(a)), send("/collect", form(b))]);
    await arrived([...ids(a), ...ids(b)]);
    const log = await logUntil((l) => l.filter((x) => x.ack).length >= 2, "two acks");
    const retries = log.filter((l) => "retry" in l);
    assert.equal(retries.length, 1, `one message retried after ${status}: ${JSON.stringify(log)}`);
    assert.equal(retries[0].retry, retryAfter, "delaySeconds from Retry-After");
    assert.equal(retries[0].attempts, 1);
    const acks = log.filter((l) => l.ack);
    assert.equal(acks.length, 2, "the other message at once, the retried one on its second attempt");
    assert.ok(acks.some((l) => l.id === retries[0].id && l.attempts === 2));
    assert.equal(collector.stats().duplicates, 0, "the acknowledged message was not sent again");
  }
});

test("retries network errors, 408 and 5xx with a backoff from attempts", async () => {
  for (const fault of [{ drop: true }, { status: 408 }, { status: 502 }]) {
    collector.reset();
    await edge.log();
    const events = Array.from({ length: 5 }, () => event());
    collector.control({ failNext: [fault, fault] });
    await send("/collect", form(events));
    await arrived(ids(events));
    const log = await logUntil((l) => l.some((x) => x.ack), "the ack");
    const retries = log.filter((l) => "retry" in l);
    assert.deepEqual(retries.map((r) => r.attempts), [1, 2], JSON.stringify(fault));
    // retryBaseSeconds 1: full jitter up to 1 s, then up to 2 s; at least 1 s.
    assert.ok(retries[0].retry === 1 && retries[1].retry >= 1 && retries[1].retry <= 2, JSON.stringify(retries));
    assert.ok(log.some((l) => l.ack && l.attempts === 3));
  }
});

test("a redirect from CoolaData is never followed: retried (nothing acked on what answers the redirect), logged", async () => {
  for (const status of [301, 302, 303, 307]) {
    collector.reset();
    await edge.log();
    await edge.deadLetters();
    const from = logs.text.length;
    const events = Array.from({ length: 2 }, () => event());
    // To a URL that answers a GET with 200: followed, it would look delivered.
    collector.control({ failNext: [{ status, headers: { Location: `${collector.url}/control?k=${APP}` }, body: { moved: true } }] });
    assert.equal((await send("/collect", form(events))).status, 200);
    await arrived(ids(events));
    const log = await logUntil((l) => l.some((x) => x.ack), "the ack");
    assert.deepEqual(
      log.filter((l) => "retry" in l || l.ack).map((l) => [l.attempts, l.ack ? "ack" : "retry"]),
      [
        [1, "retry"],
        [2, "ack"],
      ],
      `${status}: retried, acked once CoolaData acknowledged: ${JSON.stringify(log)}`,
    );
    const line = logs.text.slice(from).split("\n").find((l) => l.includes("redirected"));
    assert.ok(line, `${status}: a log line: ${logs.text.slice(from)}`);
    assert.match(line, new RegExp(`CoolaData's endpoint \\(env\\.COOLA_ENDPOINT\\) redirected: ${status} to ".*/control\\?k=\\{appKey\\}", not followed.*events are retried`));
    assert.ok(!line.includes(APP), line);
    assert.deepEqual(await edge.deadLetters(), [], "nothing dead-lettered");
    assert.equal(collector.stats().duplicates, 0);
  }
});

test("a 413 to a regrouped request splits it in halves, posted at once: nothing refused; a lone event's 413 is refused", async () => {
  collector.reset();
  await edge.log();
  await edge.deadLetters();
  const events = Array.from({ length: 10 }, () => event());
  // The first request (all 10 events) and then the first half's (5) are too large.
  collector.control({ failNext: [{ status: 413 }, { status: 413 }] });
  assert.equal((await send("/collect", form(events))).status, 200);
  await arrived(ids(events));
  const log = await logUntil((l) => l.some((x) => x.ack || "retry" in x), "the ack");
  assert.deepEqual(log.filter((l) => "retry" in l || l.ack).map((l) => [l.attempts, !!l.ack]), [[1, true]], JSON.stringify(log));
  // (An injected answer is given before the body is read: no event count.)
  // The halves go in parallel: whichever arrives first takes the second 413.
  const sent = collector.requests().map((r) => (r.status === 413 ? "413" : `${r.status}:${r.events}`));
  assert.equal(sent[0], "413", "the whole request first");
  assert.deepEqual(sent.slice().sort(), ["200:2", "200:3", "200:5", "413", "413"], "halves, then halves of the half answered 413");
  assert.equal(collector.stats().duplicates, 0);
  assert.deepEqual(await edge.deadLetters(), []);

  // One event alone in its request: refused, as any other 4xx.
  collector.reset();
  const lone = [event()];
  collector.control({ failNext: [{ status: 413 }] });
  assert.equal((await send("/collect", form(lone))).status, 200);
  const [dead] = await waitFor(async () => {
    const d = await edge.deadLetters();
    return d.length && d;
  }, { timeout: 20_000, what: "a dead letter" });
  const body = JSON.parse(dead.body);
  assert.deepEqual([ids(body.events), body.refused.status], [ids(lone), 413]);
});

test("events CoolaData refused (4xx, status false) go to the dead-letter queue and are acked", async () => {
  for (const fault of [
    { status: 400, body: { status: false, error: `events[0]: refused for app ${APP}` } },
    { status: 200, body: { status: false } },
  ]) {
    collector.reset();
    await edge.log();
    await edge.deadLetters();
    const events = Array.from({ length: 3 }, () => event());
    collector.control({ failNext: [fault] });
    assert.equal((await send("/collect", form(events))).status, 200);
    const [dead] = await waitFor(async () => {
      const d = await edge.deadLetters();
      return d.length && d;
    }, { timeout: 20_000, what: "a dead letter" });
    const body = JSON.parse(dead.body);
    assert.deepEqual(ids(body.events), ids(events), "the refused events, as validated");
    assert.equal(body.refused.status, fault.status);
    assert.ok(!dead.body.includes(APP), `no app key in the dead letter: ${dead.body}`);
    const log = await logUntil((l) => l.some((x) => x.ack || "retry" in x), "the ack");
    assert.ok(log.some((l) => l.ack) && !log.some((l) => "retry" in l), JSON.stringify(log));
    assert.equal(collector.events({ app: APP }).length, 0);
  }
});

/** Overrides the env each handler sees (and fastRetry), as the fixture's POST /__env. */
const setEnv = async (o = {}) => (await edge.mf.dispatchFetch("http://example.com/__env", { method: "POST", body: JSON.stringify(o) })).json();

test("a 403 from CoolaData (the app key refused) keeps the events: retried in 60 s, never acked or dead-lettered, logged without the key", async () => {
  collector.reset();
  await edge.log();
  await edge.deadLetters();
  // The real retry would wait the 60 s asked for: the fixture's is 1 s.
  await setEnv({ fastRetry: true });
  const from = logs.text.length;
  const events = Array.from({ length: 3 }, () => event());
  try {
    collector.control({ failNext: [{ status: 403, body: { status: false, error: `invalid app key ${APP}` } }] });
    assert.equal((await send("/collect", form(events))).status, 200);
    await arrived(ids(events));
    const log = await logUntil((l) => l.some((x) => x.ack), "the ack");
    assert.deepEqual(
      log.filter((l) => "retry" in l || l.ack).map((l) => [l.attempts, l.ack ? "ack" : l.retry]),
      [
        [1, 60],
        [2, "ack"],
      ],
      `retried with delaySeconds 60, acked once CoolaData acknowledged: ${JSON.stringify(log)}`,
    );
  } finally {
    await setEnv();
  }
  const lines = logs.text.slice(from).split("\n").filter((l) => l.includes("refused the app key"));
  assert.equal(lines.length, 1, `one line for the batch: ${lines}`);
  assert.match(lines[0], /CoolaData refused the app key \(HTTP 403\): check env\.COOLA_APP_KEY .*retried in 60 s/);
  assert.ok(!lines[0].includes(APP), lines[0]);
  assert.deepEqual(await edge.deadLetters(), [], "nothing dead-lettered");
  assert.equal(collector.stats().duplicates, 0);
});

test("without a dead-letter queue bound, refused events are logged (without the app key) and acked", async () => {
  collector.reset();
  await edge.log();
  const events = [event({ event_name: "logged_refusal" })];
  collector.control({ failNext: [{ status: 422, body: { status: false, error: `bad key ${APP}` } }] });
  assert.equal((await send("/nodlq", form(events))).status, 200);
  await waitFor(() => logs.text.includes(events[0].event_id), { timeout: 20_000, what: "the log line" });
  const line = logs.text.split("\n").find((l) => l.includes(events[0].event_id));
  assert.match(line, /refused/);
  const log = await logUntil((l) => l.some((x) => x.ack || "retry" in x), "the ack");
  assert.ok(log.some((l) => l.ack) && !log.some((l) => "retry" in l));
});

test("the same event_id twice in one batch is sent once", async () => {
  collector.reset();
  const once = event();
  const other = event();
  assert.equal((await send("/collect", form([once, other, { ...once }]))).status, 200);
  await arrived([once.event_id, other.event_id]);
  const reqs = requestsFor([once.event_id]);
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].events, 2, "two events in the request, not three");
  assert.equal(collector.stats().duplicates, 0);
});

// ---- messages from another producer --------------------------------------

/** Sends `bodies` to the queue bound as `queue` in one sendBatch call (strings as text, the rest as JSON). */
async function sendRaw(queue, bodies) {
  const r = await edge.mf.dispatchFetch("http://example.com/__send", { method: "POST", body: JSON.stringify({ queue, bodies }) });
  assert.equal(r.status, 200, await r.text());
}
const edgeLines = (from) => logs.text.slice(from).split("\n").filter((l) => l.includes("coola-tracker/edge:"));

test("another producer's message: its bad events are dead-lettered unsent (the collector's own check), the rest of the batch delivered", async () => {
  collector.reset();
  await edge.log();
  await edge.deadLetters();
  const from = logs.text.length;
  // Ours as fetch writes them (validated JSON), one 40 days old, as if it
  // was accepted long ago and retried in the queue since: no window applies.
  const ours = [event({ session_ip: "0" }), event({ event_timestamp_epoch: Date.now() - 40 * 86_400_000, session_ip: "0" })];
  // Another producer's: one without user_id (CoolaData would refuse the
  // whole request it is in), one valid but not written CoolaData's way.
  const bad = event({ event_name: "foreign_bad" });
  delete bad.user_id;
  const good = event({ event_name: "foreign_good", paid: true });
  const unreadable = `not a collector message for ${APP}`;
  await sendRaw("COOLA_EVENTS", [JSON.stringify({ events: ours }), { events: [bad, good] }, unreadable]);
  await arrived([...ids(ours), good.event_id]);
  const log = await logUntil((l) => l.filter((x) => x.ack).length >= 3, "three acks");
  assert.ok(!log.some((l) => "retry" in l), JSON.stringify(log));
  assert.ok(log.some((l) => l.batch === "coola-events" && l.size === 3), `one consumer batch: ${JSON.stringify(log)}`);

  const got = collector.events({ app: APP });
  assert.ok(!got.some((e) => e.event_id === bad.event_id), "the bad event never reached CoolaData");
  assert.equal(got.find((e) => e.event_id === good.event_id).paid, "true", "the good one as validated");
  assert.equal(collector.stats().rejected_requests, 0, "no request refused");
  const reqs = requestsFor([...ids(ours), good.event_id]);
  assert.deepEqual(reqs.map((r) => r.events), [3], "ours and the good foreign event in one request");

  const dead = [];
  await waitFor(async () => dead.push(...(await edge.deadLetters())) && dead.length >= 2, { timeout: 20_000, what: "two dead letters" });
  assert.equal(dead.length, 2, JSON.stringify(dead));
  const invalid = JSON.parse(dead.find((d) => d.body.includes("invalid")).body);
  assert.deepEqual(ids(invalid.events), [bad.event_id], "the refused event, as it came");
  assert.deepEqual(invalid.invalid.map(({ index, code, field }) => ({ index, code, field })), [{ index: 0, code: "missing_field", field: "user_id" }]);
  assert.ok(dead.some((d) => d.body === unreadable), "the unreadable message as it is");

  await waitFor(() => edgeLines(from).length >= 2, { timeout: 5_000, what: "the log lines" });
  const lines = edgeLines(from);
  assert.ok(!lines.some((l) => l.includes("CoolaData refused")), lines.join("\n"));
  const checkLine = lines.find((l) => l.includes("own check"));
  assert.match(checkLine, /refused 1 events of a queue message, not sent to CoolaData \(missing_field user_id;/);
  assert.match(checkLine, /dead-lettered to COOLA_DLQ$/);
  assert.match(lines.find((l) => l.includes("not a coola-tracker collector message")), /nothing of it sent to CoolaData; dead-lettered to COOLA_DLQ$/);
});

test("without a dead-letter queue bound, another producer's messages are logged as dropped (not as refused by CoolaData), acked, never sent", async () => {
  collector.reset();
  await edge.log();
  const from = logs.text.length;
  const bad = event({ event_name: "foreign_bad_nodlq" });
  delete bad.user_id;
  const unreadable = JSON.stringify({ other: [1, 2], key: APP });
  await sendRaw("NODLQ_EVENTS", [unreadable, JSON.stringify({ events: [bad] })]);
  const log = await logUntil((l) => l.filter((x) => x.ack).length >= 2, "two acks");
  assert.ok(!log.some((l) => "retry" in l), JSON.stringify(log));
  await waitFor(() => edgeLines(from).length >= 2, { timeout: 5_000, what: "the log lines" });
  const lines = edgeLines(from);
  assert.ok(!lines.some((l) => l.includes("CoolaData refused")), lines.join("\n"));
  const checkLine = lines.find((l) => l.includes(bad.event_id));
  assert.match(checkLine, /own check refused 1 events of a queue message, not sent to CoolaData \(missing_field user_id;.*; dropped \(no UNBOUND_DLQ bound\): \{"events":\[/);
  const other = lines.find((l) => l.includes("not a coola-tracker collector message"));
  assert.match(other, /; dropped \(no UNBOUND_DLQ bound\): \{"other":\[1,2\],"key":"\{appKey\}"\}$/, "the body, without the app key");
  assert.equal(collector.stats().requests, 0, "no CoolaData request");
});

// ---- broken settings -----------------------------------------------------

const PASSWORD = "hunter2-pw";
const BROKEN = [
  [{ COOLA_APP_KEY: null }, /env\.COOLA_APP_KEY \(the CoolaData app key\) is not set/],
  [{ COOLA_APP_KEY: "" }, /env\.COOLA_APP_KEY \(the CoolaData app key\) is not set/],
  [{ COOLA_ENDPOINT: "api.cooladata.com/v3/{appKey}/track" }, /env\.COOLA_ENDPOINT must be an https:\/\/ URL \(http only for localhost/],
  [{ COOLA_ENDPOINT: "ftp://127.0.0.1/v3/{appKey}/track" }, /env\.COOLA_ENDPOINT must be an https:\/\/ URL/],
  [{ COOLA_ENDPOINT: `http://user:${PASSWORD}@127.0.0.1/v3/{appKey}/track` }, /env\.COOLA_ENDPOINT must not hold user:password@/],
  // The app key would go in cleartext: the tracker's rule, http only on loopback hosts.
  [{ COOLA_ENDPOINT: "http://example.org/v3/{appKey}/track" }, /env\.COOLA_ENDPOINT must be an https:\/\/ URL \(http only for localhost, 127\.0\.0\.0\/8, \[::1\]\)/],
  [{ COOLA_ENDPOINT: "http://127.0.0.1:99999/v3/{appKey}/track" }, /env\.COOLA_ENDPOINT is not a URL/],
];
const linesSince = (from) => logs.text.slice(from).split("\n").filter((l) => l.includes("coola-tracker/edge:"));

test("broken settings (no app key, an endpoint fetch cannot use): fetch answers 503 with Retry-After and logs once", async () => {
  collector.reset();
  const fine = [];
  const refusedIds = [];
  try {
    for (const [vars, line] of BROKEN) {
      await setEnv({ fetch: vars });
      const from = logs.text.length;
      const refused = [event()];
      const a = await send("/collect", form(refused), { Origin: "https://shop.example" });
      const b = await send("/collect", form([event()]));
      refusedIds.push(...ids(refused));
      for (const r of [a, b]) {
        assert.equal(r.status, 503, JSON.stringify(vars));
        assert.ok(Number(r.headers.get("Retry-After")) > 0, "Retry-After in seconds");
      }
      assert.equal(a.headers.get("Access-Control-Allow-Origin"), "https://shop.example", "readable by the page");
      await waitFor(() => linesSince(from).length > 0, { timeout: 5_000, what: "the log line" });
      const lines = linesSince(from);
      assert.equal(lines.length, 1, `logged once: ${lines}`);
      assert.match(lines[0], line);
      assert.match(lines[0], /503/);
      assert.ok(!lines[0].includes(PASSWORD) && !lines[0].includes(APP), lines[0]);
      // Fixed: accepted again (and the next breakage is logged again).
      await setEnv();
      const ok = [event()];
      assert.equal((await send("/collect", form(ok))).status, 200);
      fine.push(...ids(ok));
    }
    await arrived(fine);
    await marker();
    const got = ids(collector.events({ app: APP }));
    assert.ok(!refusedIds.some((id) => got.includes(id)), "nothing was queued while the settings were broken");
  } finally {
    await setEnv();
  }
});

test("broken settings: the consumer retries every message (none acked, none dead-lettered), logs each batch, and delivers once fixed", async () => {
  for (const [vars, line] of BROKEN.filter((_, i) => i % 2 === 0)) {
    collector.reset();
    await edge.log();
    await edge.deadLetters();
    await setEnv({ queue: vars, fastRetry: true });
    const from = logs.text.length;
    const events = Array.from({ length: 3 }, () => event());
    try {
      assert.equal((await send("/collect", form(events))).status, 200, "fetch itself is set up");
      const log = await logUntil((l) => l.filter((x) => "retry" in x).length >= 2, "two retries");
      assert.ok(!log.some((l) => l.ack), `no ack while broken: ${JSON.stringify(log)}`);
      assert.ok(log.filter((l) => "retry" in l).every((l) => l.retry > 0));
      const lines = linesSince(from);
      assert.ok(lines.length >= 2, `a line each batch: ${lines}`);
      assert.match(lines[0], line);
      assert.match(lines[0], /retrying 1 messages/);
      assert.ok(!lines.some((l) => l.includes(PASSWORD) || l.includes(APP)), lines.join("\n"));
    } finally {
      await setEnv();
    }
    await arrived(ids(events));
    assert.deepEqual(await edge.deadLetters(), [], "nothing dead-lettered");
  }
});

test("the app key is in no response and no log line", () => {
  assert.ok(responses.length > 20);
  for (const r of responses) assert.ok(!r.includes(APP), r);
  assert.ok(logs.text.length > 0, "the Worker logged something");
  assert.ok(!logs.text.includes(APP), logs.text);
});
