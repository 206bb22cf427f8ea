// Node.js 20: the installed package, imported (ESM) and required (CommonJS)
// by plain scripts run as child processes, delivers events to the local
// collector with Node's global fetch and no `navigator`, and the process
// exits by itself: after shutdown(), without it (the queue goes out on
// beforeExit), and when the collector cannot be reached.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { exec, project, startCollector } from "./helpers.mjs";

const ESM = `
import init, { CoolaTracker, visitorProperties, parseTimestamp } from "coola-tracker";
import { createRequire } from "node:module";
if (typeof navigator !== "undefined") throw new Error("this test needs a Node without navigator");
await init(); // resolves at once in Node; offered for code shared with browsers
const [endpoint, app] = process.argv.slice(2);
const errors = [];
const tracker = new CoolaTracker({ appKey: app, endpoint, onError: (e) => errors.push(e.code) });
const dated = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
const ids = [
  tracker.track("signup", { plan: "pro", price: 9.99, paid: true, via: "esm" }),
  tracker.track("login", { via: "esm" }),
  tracker.track("dated", { via: "esm", event_timestamp_epoch: parseTimestamp(dated.toUTCString()) }),
];
let thrown = null;
try { tracker.track("bad", { nested: { no: 1 } }); } catch (e) { thrown = { code: e.code, field: e.field, type: e.constructor.name }; }
const states = [tracker.closed, tracker.optedOut, tracker.pending];
const report = await tracker.shutdown();
states.push(tracker.closed, tracker.pending);
let closed = null;
try { tracker.track("late"); } catch (e) { closed = e.code; }
const required = createRequire(import.meta.url).resolve("coola-tracker");
const visitors = [
  visitorProperties(new Request("http://worker.example/")),
  visitorProperties(new Request("http://worker.example/", { headers: { "CF-Connecting-IP": "198.51.100.4", "User-Agent": "UA/1" } })),
];
console.log(JSON.stringify({ ids, report, states, thrown, closed, errors, pending: tracker.pending, required, dated: dated.getTime(), visitors }));
`;

const CJS = `
const { CoolaTracker, validateEvent, encodeBatch } = require("coola-tracker");
if (typeof navigator !== "undefined") throw new Error("this test needs a Node without navigator");
const [endpoint, app] = process.argv.slice(2);
const tracker = new CoolaTracker({ appKey: app, endpoint, userId: "cjs-user" });
const ids = [tracker.track("signup", { via: "cjs" }), tracker.track("login", { via: "cjs" })];
const body = encodeBatch([{ event_name: "x", user_id: "u", event_timestamp_epoch: 1420452000000 }]);
const checked = validateEvent({ event_name: "x", user_id: "u", event_timestamp_epoch: "1420452000000", ok: true });
tracker.shutdown().then((report) => {
  console.log(JSON.stringify({ ids, report, body: body.slice(0, 5), checked, resolved: require.resolve("coola-tracker") }));
});
`;

// No flush, no shutdown: the flush timer must not hold the process, and
// what is queued goes out when the event loop empties (beforeExit).
const NO_SHUTDOWN = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const tracker = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 60000 });
tracker.track("one", { via: "exit" });
tracker.track("two", { via: "exit" });
console.log("queued", tracker.pending);
`;

// A fetch wrapper (as monitoring scripts install) that answers with what is
// not a promise, then with a response that throws: each request counts as
// failed, nothing throws out of the tracker, and the event goes out later.
const ODD_FETCH = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const real = globalThis.fetch;
let calls = 0;
globalThis.fetch = (url, init) => {
  calls++;
  if (calls === 1) return undefined;
  if (calls === 2) return Promise.resolve({ get status() { throw new Error("odd response"); } });
  return real(url, init);
};
const errors = [];
const tracker = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, retryBaseMs: 10, retryMaxMs: 20, onError: (e) => errors.push(e.code) });
tracker.track("odd", { via: "odd-fetch" });
const reports = [];
for (let i = 0; i < 20 && tracker.pending > 0; i++) {
  reports.push(await tracker.flush());
  await new Promise((r) => setTimeout(r, 30));
}
const report = await tracker.shutdown();
console.log(JSON.stringify({ calls, reports, report, errors, pending: tracker.pending }));
`;

// The collector is down: shutdown() makes every try the retry policy
// allows (nothing stores the event for later in Node), reports the give-up,
// settles, and the process still exits.
const UNREACHABLE = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const errors = [];
const tracker = new CoolaTracker({ appKey: app, endpoint, maxRetries: 2, retryBaseMs: 100, retryMaxMs: 200,
  onError: (e) => errors.push([e.code, e.count, e.status, e.cause?.constructor.name, typeof e.cause?.message]) });
tracker.track("lost", { via: "down" });
const report = await tracker.shutdown();
console.log(JSON.stringify({ report, errors }));
`;

// One 503 (Retry-After: 1): shutdown() waits it out, the process stays
// alive meanwhile, and the retry delivers the event.
const RETRY = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const errors = [];
const tracker = new CoolaTracker({ appKey: app, endpoint, retryBaseMs: 50, onError: (e) => errors.push(e.code) });
tracker.track("unlucky", { via: "503" });
const t0 = Date.now();
const report = await tracker.shutdown();
console.log(JSON.stringify({ report, errors, waited: Date.now() - t0, pending: tracker.pending }));
`;

// free(): twice is harmless, a freed tracker's methods throw, and free()
// from inside the tracker's own callback (beforeSend) takes effect once
// that call returns.
const FREE = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const freed = (f) => { try { f(); return "no throw"; } catch (e) { return e.constructor.name + " " + e.code + ": " + e.message; } };
const a = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 60000 });
a.track("one");
a.free();
a.free();
const afterFree = [freed(() => a.track("two")), freed(() => a.pending), freed(() => a.setUserId("u"))];
let inside = null;
const b = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 60000,
  beforeSend: (e) => { b.free(); inside = freed(() => b.pending); return e; } });
const id = b.track("three");
console.log(JSON.stringify({ afterFree, id: typeof id, inside, outside: freed(() => b.pending),
  dispose: typeof Symbol.dispose === "symbol" ? a[Symbol.dispose] === a.free : "no Symbol.dispose" }));
`;

// shutdown() called from inside beforeSend: the event the hook holds was
// tracked before the shutdown (track() returns its event_id), so the
// shutdown sends it and counts it, whatever the hook returns; one the hook
// drops lets the shutdown settle. A track() after it throws tracker_closed.
const SHUTDOWN_INSIDE = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const out = {};
for (const answer of ["keep", "drop"]) {
  let report;
  const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, beforeSend: (e) => {
    report ??= t.shutdown();
    return answer === "keep" ? e : null;
  } });
  const id = t.track(answer);
  let after;
  try { t.track("after"); } catch (e) { after = e.code; }
  out[answer] = { id: typeof id, report: await report, pending: t.pending, after };
}
console.log(JSON.stringify(out));
`;

let app;
let collector;


// Options and debug output (review30 #6, #9, #11a, #12): the request line
// shows the endpoint template, whatever the app key's letters; an endpoint
// with user:password@ (fetch refuses to send to it), a throwing option
// getter and a serverTimestamp that is no boolean are invalid_option.
const OPTIONS = `
import { CoolaTracker, validateEvent, encodeBatch } from "coola-tracker";
const [endpoint] = process.argv.slice(2);
const lines = [];
console.debug = (...a) => lines.push(a.map(String).join(" "));
for (const appKey of ["k", "1", "track"]) {
  const t = new CoolaTracker({ appKey, endpoint, flushIntervalMs: 0, persist: false, debug: true });
  t.track("x");
  await t.shutdown();
}
const refused = (f) => {
  try { f(); return null; } catch (e) { return { code: e.code, field: e.field, message: e.message, type: e.constructor.name }; }
};
const ev = { event_name: "e", user_id: "u" };
console.log(JSON.stringify({
  lines: lines.filter((l) => l.includes("request ")),
  creds: refused(() => new CoolaTracker({ appKey: "k", endpoint: endpoint.replace("://", "://user:pw@") })),
  getter: refused(() => new CoolaTracker({ appKey: "k", endpoint, get batchSize() { throw new Error("boom"); } })),
  st: ["yes", 1, null].map((v) => refused(() => validateEvent(ev, { serverTimestamp: v }))),
  stBatch: refused(() => encodeBatch([ev], { serverTimestamp: "yes" })),
  stTrue: validateEvent(ev, { serverTimestamp: true }),
}));
`;
// Shared properties and null, as the README says: a null or undefined
// value given to setProperties removes that shared property; in an event's
// own properties it means absent, and the shared value still applies.
const SHARED = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, userId: "u", properties: { plan: "pro", tier: 2, beta: true } });
t.track("own_null", { plan: null, tier: undefined });
t.setProperties({ plan: null, tier: undefined });
t.track("after_set");
console.log(JSON.stringify(await t.shutdown()));
`;
before(async () => {
  [app, collector] = await Promise.all([
    project({ "esm.mjs": ESM, "cjs.cjs": CJS, "exit.mjs": NO_SHUTDOWN, "down.mjs": UNREACHABLE, "retry.mjs": RETRY, "free.mjs": FREE, "odd.mjs": ODD_FETCH, "options.mjs": OPTIONS, "inside.mjs": SHUTDOWN_INSIDE, "shared.mjs": SHARED }),
    startCollector({ port: 0 }),
  ]);
});
after(async () => {
  await collector?.close();
  app?.remove();
});

const endpoint = () => `${collector.url}/v3/{appKey}/track`;

function lastJson(stdout) {
  const line = stdout.trim().split("\n").pop();
  return JSON.parse(line);
}

test("ESM script: import, track, shutdown; events reach the collector and the process exits", async () => {
  const r = await exec(process.execPath, ["esm.mjs", endpoint(), "node-esm"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.signal, null, `the process did not exit by itself (killed after ${r.ms} ms)`);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  assert.match(out.required, /node[\\/]coola_tracker\.js$/, "the node condition picks the Node build");
  assert.deepEqual(out.report, { sent: 3, failed: 0, pending: 0, requests: 1 });
  assert.deepEqual(out.thrown, { code: "nested_property", field: "nested", type: "TypeError" });
  assert.equal(out.closed, "tracker_closed");
  // The getters' types: booleans and a number (coola_op returns them as numbers).
  assert.deepEqual(out.states, [false, false, 3, true, 0]);
  assert.deepEqual(out.visitors, [{ session_ip: "0" }, { session_ip: "198.51.100.4", session_dua: "UA/1" }]);
  assert.deepEqual(out.errors, []);
  const events = collector.events({ app: "node-esm" });
  assert.deepEqual(events.map((e) => e.event_id).sort(), [...out.ids].sort());
  const signup = events.find((e) => e.event_name === "signup");
  assert.equal(signup.plan, "pro");
  assert.equal(signup.price, 9.99);
  assert.equal(signup.paid, "true");
  assert.equal(typeof signup.user_id, "string");
  assert.ok(signup.user_id.length > 0);
  assert.equal(signup.session_dua, undefined, "no navigator in Node 20: no session_dua");
  assert.equal(events.find((e) => e.event_name === "dated").event_timestamp_epoch, out.dated);
  assert.equal(new Set(events.map((e) => e._request)).size, 1, "one request for the three events");
});

test("CommonJS script: require, track, shutdown", async () => {
  const r = await exec(process.execPath, ["cjs.cjs", endpoint(), "node-cjs"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.signal, null, "the process did not exit by itself");
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  assert.match(out.resolved, /node[\\/]coola_tracker\.js$/);
  assert.deepEqual(out.report, { sent: 2, failed: 0, pending: 0, requests: 1 });
  assert.equal(out.body, "data=");
  assert.deepEqual(out.checked, { event_name: "x", user_id: "u", event_timestamp_epoch: 1420452000000, ok: "true" });
  const events = collector.events({ app: "node-cjs" });
  assert.deepEqual(events.map((e) => e.event_name).sort(), ["login", "signup"]);
  assert.ok(events.every((e) => e.user_id === "cjs-user" && e.via === "cjs"));
});

test("without shutdown: the timer does not hold the process, queued events go out before exit", async () => {
  const r = await exec(process.execPath, ["exit.mjs", endpoint(), "node-exit"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.signal, null, "the process did not exit by itself");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ms < 10_000, `exit took ${r.ms} ms (the 60 s flush timer must not hold it)`);
  assert.match(r.stdout, /queued 2/);
  const events = collector.events({ app: "node-exit" });
  assert.deepEqual(events.map((e) => e.event_name).sort(), ["one", "two"]);
});

test("collector unreachable: shutdown() settles, reports the failure, and the process exits", async () => {
  // A port that was just free: nothing listens there.
  const dead = await startCollector({ port: 0 });
  const url = `${dead.url}/v3/{appKey}/track`;
  await dead.close();
  const r = await exec(process.execPath, ["down.mjs", url, "node-down"], { cwd: app.dir, timeout: 30_000 });
  assert.equal(r.signal, null, `the process did not exit by itself (killed after ${r.ms} ms)`);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  // One event given up on (counted once), after the first try and maxRetries 2.
  assert.deepEqual(out.report, { sent: 0, failed: 1, pending: 0, requests: 3 });
  // The give-up is reported, with what fetch rejected with (no answer: status 0) as its cause.
  assert.deepEqual(out.errors, [["request_failed", 1, 0, "TypeError", "string"]], "the give-up is reported");
  assert.ok(r.ms < 15_000, `exit took ${r.ms} ms`);
});

test("a 503 at shutdown(): the retry waits for Retry-After, the process stays alive, the event is delivered", async () => {
  collector.control({ failNext: [{ status: 503 }] });
  const r = await exec(process.execPath, ["retry.mjs", endpoint(), "node-retry"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.signal, null, `the process did not exit by itself (killed after ${r.ms} ms)`);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  // Delivered by the retry: sent, not failed (the first try counts in requests only).
  assert.deepEqual(out.report, { sent: 1, failed: 0, pending: 0, requests: 2 });
  assert.deepEqual(out.errors, []);
  assert.ok(out.waited >= 1000, `the retry came after ${out.waited} ms, before the collector's Retry-After: 1`);
  assert.deepEqual(collector.events({ app: "node-retry" }).map((e) => e.event_name), ["unlucky"]);
});

test("a fetch wrapper that answers oddly: each request fails, nothing throws, the event goes out later", async () => {
  const r = await exec(process.execPath, ["odd.mjs", endpoint(), "node-odd"], { cwd: app.dir, timeout: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  assert.ok(out.calls >= 3, `the wrapper was called ${out.calls} times`);
  assert.equal(out.pending, 0);
  assert.deepEqual(
    collector.events({ app: "node-odd" }).map((e) => e.event_name),
    ["odd"],
    "delivered once, after the two odd answers",
  );
});

test("free(): idempotent, a freed tracker throws, free() inside its own callback waits for the call", async () => {
  const r = await exec(process.execPath, ["free.mjs", endpoint(), "node-free"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.signal, null, "the process did not exit by itself");
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  assert.deepEqual(out.afterFree, Array(3).fill("Error tracker_closed: this CoolaTracker was freed"));
  assert.equal(out.id, "string", "track() returned its event_id though beforeSend freed the tracker");
  assert.equal(out.inside, "Error tracker_closed: this CoolaTracker was freed", "the class refuses calls once free() was asked for");
  assert.equal(out.outside, "Error tracker_closed: this CoolaTracker was freed");
  assert.notEqual(out.dispose, false, "Symbol.dispose is free()");
});

test("shutdown() from inside beforeSend sends the held event and counts it", async () => {
  const r = await exec(process.execPath, ["inside.mjs", endpoint(), "node-inside"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  assert.deepEqual(out.keep, { id: "string", report: { sent: 1, failed: 0, pending: 0, requests: 1 }, pending: 0, after: "tracker_closed" });
  assert.deepEqual(out.drop, { id: "string", report: { sent: 0, failed: 0, pending: 0, requests: 0 }, pending: 0, after: "tracker_closed" });
  assert.deepEqual(collector.events({ app: "node-inside" }).map((e) => e.event_name), ["keep"]);
});

test("package.json: name, version, license, types, sideEffects, files, exports targets", async () => {
  const { readFileSync, existsSync } = await import("node:fs");
  const { join } = await import("node:path");
  const pkg = JSON.parse(readFileSync(join(app.pkgDir, "package.json"), "utf8"));
  assert.equal(pkg.name, "coola-tracker");
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
  assert.equal(pkg.license, "MIT");
  assert.ok(existsSync(join(app.pkgDir, pkg.types)));
  assert.ok(existsSync(join(app.pkgDir, "README.md")));
  assert.ok(Array.isArray(pkg.sideEffects) && pkg.sideEffects.includes("./workerd.js"),
    "workerd.js instantiates the wasm on load: bundlers must keep it");
  const conds = pkg.exports["."];
  assert.deepEqual(Object.keys(conds).slice(0, 3), ["workerd", "worker", "node"]);
  assert.ok(pkg.exports["./cooladata"]);
  const targets = [];
  (function walk(v) {
    if (typeof v === "string") targets.push(v);
    else Object.values(v).forEach(walk);
  })(pkg.exports);
  for (const t of targets) assert.ok(existsSync(join(app.pkgDir, t)), `${t} is in the package`);
  // Nothing from the build tree besides what users need.
  assert.ok(!existsSync(join(app.pkgDir, "web", ".gitignore")));
});

test("options and debug: the template in request lines, credentials, throwing getters and serverTimestamp refused", async () => {
  const r = await exec(process.execPath, ["options.mjs", endpoint()], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  // Each key's request line: the template itself (appKey "k" garbled
  // ".../trac{appKey}", "1" the host, "track" the path).
  assert.deepEqual(out.lines, [1, 2, 3].map(() => `[coola-tracker] request 1: 1 event(s) to ${endpoint()}`));
  assert.deepEqual(
    { ...out.creds, message: undefined },
    { code: "invalid_option", field: "endpoint", type: "Error", message: undefined },
  );
  assert.match(out.creds.message, /user:password@.*remove it/);
  assert.ok(!out.creds.message.includes("pw@"), out.creds.message);
  assert.deepEqual(out.getter, { code: "invalid_option", field: "batchSize", type: "Error", message: '"batchSize": reading it threw: boom' });
  for (const e of [...out.st, out.stBatch]) {
    assert.deepEqual(e, { code: "invalid_option", field: "serverTimestamp", type: "Error", message: '"serverTimestamp": must be true or false' });
  }
  assert.deepEqual(out.stTrue, { event_name: "e", user_id: "u" });
});

test("shared properties and null: setProperties' null or undefined removes one, an event's own leaves it", async () => {
  const r = await exec(process.execPath, ["shared.mjs", endpoint(), "node-shared"], { cwd: app.dir, timeout: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lastJson(r.stdout), { sent: 2, failed: 0, pending: 0, requests: 1 });
  const got = Object.fromEntries(
    collector.events({ app: "node-shared" }).map((e) => [e.event_name, [e.plan, e.tier, e.beta]]),
  );
  assert.deepEqual(got, { own_null: ["pro", 2, "true"], after_set: [undefined, undefined, "true"] });
});
