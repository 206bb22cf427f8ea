// What counts as delivered, and the process's exit, in Node (child
// processes of the installed package) and Chromium, against the local
// collector (review32 #1, #2, #3, #10):
// - a redirect from the endpoint is not followed (fetch would send the POST
//   again as a GET without the events, whose 200 is no acknowledgement): a
//   network error, retried, reported with a cause when given up;
// - a request with no answer is aborted at the request timeout and retried
//   (the scripts shorten AbortSignal.timeout, and record the timeout asked
//   for: the shipped code path is the one tested);
// - with no shutdown(), what fails at beforeExit follows the retry policy
//   before the process exits (delivered, or request_failed to onError);
// - many trackers share one beforeExit listener (no leak warning).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { FIXTURES, chromium, exec, newPage, project, startCollector } from "./helpers.mjs";

// A redirect once, then the answer: the first flush reports the events still
// queued (pending, not failed: each event counts once, and these are
// retried), unless the retry came due within it; the retry delivers them once. Then, per redirect status,
// a tracker with maxRetries 0: given up at once and reported, status 0, with
// a cause saying what to do.
const REDIRECT = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app, statuses] = process.argv.slice(2);
const errors = [];
const onError = (e) => errors.push([e.code, e.status, e.count, e.cause?.message]);
const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, retryBaseMs: 10, retryMaxMs: 20, onError });
t.track("one");
t.track("two");
const first = await t.flush();
const last = await t.shutdown();
const given = [];
for (const s of statuses.split(",")) {
  const g = new CoolaTracker({ appKey: app + "-" + s, endpoint, flushIntervalMs: 0, maxRetries: 0, onError });
  g.track("lost");
  given.push(await g.shutdown());
}
console.log(JSON.stringify({ first, last, given, errors }));
`;

// The first request never answers: it is aborted at the timeout and retried.
// Then a tracker with maxRetries 0 whose request never answers: reported,
// with the timeout as its cause.
const HANG = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const asked = [];
const timeout = AbortSignal.timeout;
AbortSignal.timeout = (ms) => (asked.push(ms), timeout.call(AbortSignal, 300));
const errors = [];
const onError = (e) => errors.push([e.code, e.status, e.count, e.cause?.name]);
const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, retryBaseMs: 10, retryMaxMs: 20, onError });
t.track("late");
const report = await t.shutdown();
const g = new CoolaTracker({ appKey: app + "-lost", endpoint, flushIntervalMs: 0, maxRetries: 0, onError });
g.track("lost");
const given = await g.shutdown();
console.log(JSON.stringify({ report, given, errors, asked }));
`;

// No shutdown(): two events, then the script ends; a beforeExit listener of
// the script's own tracks one more at the first beforeExit (track() still
// works once the tracker knows the process is exiting). What is left at
// exit is printed.
const EXIT = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app, retries] = process.argv.slice(2);
const errors = [];
const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 60000, maxRetries: Number(retries),
  retryBaseMs: 50, retryMaxMs: 100, onError: (e) => errors.push([e.code, e.status, e.count]) });
t.track("one");
t.track("two");
let late;
process.once("beforeExit", () => {
  try { late = typeof t.track("late"); } catch (e) { late = e.code; }
});
process.on("exit", () => console.log(JSON.stringify({ pending: t.pending, errors, late })));
`;

// Eleven trackers (one per tenant): one beforeExit listener between them,
// removed with the last; every one sends at exit.
const MANY = `
import { CoolaTracker } from "coola-tracker";
const [endpoint, app] = process.argv.slice(2);
const warnings = [];
process.on("warning", (w) => warnings.push(w.name));
const before = process.listenerCount("beforeExit");
const ts = Array.from({ length: 11 }, (_, i) => new CoolaTracker({ appKey: app + "-" + i, endpoint, flushIntervalMs: 60000 }));
const listeners = [process.listenerCount("beforeExit") - before];
const spare = Array.from({ length: 2 }, () => new CoolaTracker({ appKey: app + "-spare", endpoint }));
spare[0].free();
listeners.push(process.listenerCount("beforeExit") - before);
await spare[1].shutdown();
listeners.push(process.listenerCount("beforeExit") - before);
ts.forEach((t, i) => t.track("tenant", { i }));
process.on("exit", () => {
  const pending = ts.reduce((n, t) => n + t.pending, 0);
  ts.forEach((t) => t.free());
  listeners.push(process.listenerCount("beforeExit") - before);
  console.log(JSON.stringify({ warnings, listeners, pending }));
});
`;

let app;
let collector;
let browser;

before(async () => {
  [app, browser] = await Promise.all([
    project({ "redirect.mjs": REDIRECT, "hang.mjs": HANG, "exit.mjs": EXIT, "many.mjs": MANY }),
    chromium(),
  ]);
  collector = await startCollector({ port: 0, static: join(FIXTURES, "pages"), mounts: { "/pkg": app.pkgDir } });
});
after(async () => {
  await browser?.close();
  await collector?.close();
  app?.remove();
});

const endpoint = () => `${collector.url}/v3/{appKey}/track`;
const lastJson = (stdout) => JSON.parse(stdout.trim().split("\n").pop());
// A redirect to a URL that answers a GET with 200 and JSON (what a
// followed redirect used to take for the acknowledgement).
const redirect = (status) => ({ status, headers: { Location: "/stats" }, body: "" });

async function run(script, args, timeout = 30_000) {
  const r = await exec(process.execPath, [script, endpoint(), ...args], { cwd: app.dir, timeout });
  assert.equal(r.signal, null, `the process did not exit by itself (killed after ${r.ms} ms): ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  return { ...r, out: lastJson(r.stdout) };
}

test("Node: a 302 is not followed: not counted sent, retried, delivered once; every redirect status given up is reported", async () => {
  const statuses = [301, 302, 303, 307, 308];
  collector.control({ failNext: [redirect(302), {}, ...statuses.map(redirect)] });
  const { out } = await run("redirect.mjs", ["node-redirect", statuses.join(",")]);
  // The retry's backoff (full jitter, up to 10 ms) may come due before the
  // first flush settles, and that flush then carries the retry too: either
  // way two requests in all, the redirect acknowledging nothing, each event
  // counted sent once, none failed.
  const { first, last } = out;
  assert.equal(first.requests + last.requests, 2, "the redirect, then the retry");
  assert.deepEqual(first, first.requests === 2 ? { sent: 2, failed: 0, pending: 0, requests: 2 } : { sent: 0, failed: 0, pending: 2, requests: 1 }, "the redirect acknowledged nothing");
  assert.equal(first.sent + last.sent, 2);
  assert.equal(first.failed + last.failed, 0);
  assert.equal(last.pending, 0);
  assert.deepEqual(collector.events({ app: "node-redirect" }).map((e) => e.event_name), ["one", "two"]);
  assert.deepEqual(out.given, statuses.map(() => ({ sent: 0, failed: 1, pending: 0, requests: 1 })));
  assert.deepEqual(
    out.errors,
    statuses.map((s) => [
      "request_failed",
      0,
      1,
      `the endpoint redirected (HTTP ${s}): set endpoint to the URL it redirects to`,
    ]),
  );
  for (const s of statuses) assert.equal(collector.events({ app: `node-redirect-${s}` }).length, 0);
});

test("Node: a request that never answers is aborted at the request timeout (30 s) and retried", async () => {
  // Held unanswered for longer than the test, then dropped (never stored).
  const hang = { delayMs: 120_000, drop: true };
  collector.control({ failNext: [hang, {}, hang] });
  const { out } = await run("hang.mjs", ["node-hang"]);
  assert.deepEqual(out.report, { sent: 1, failed: 0, pending: 0, requests: 2 }, "the timed-out try retried, then sent: counted once, as sent");
  assert.deepEqual(collector.events({ app: "node-hang" }).map((e) => e.event_name), ["late"]);
  assert.deepEqual(out.given, { sent: 0, failed: 1, pending: 0, requests: 1 });
  assert.deepEqual(out.errors, [["request_failed", 0, 1, "TimeoutError"]], "reported, the timeout as its cause");
  assert.deepEqual(out.asked, [30_000, 30_000, 30_000], "every request asks for the documented timeout");
});

// Retry-After: 1 on each failure: a wait longer than anything else keeps the
// process (a shorter backoff's unref'd timer could fire before the exit by luck).
test("Node without shutdown(): a 500 at beforeExit is retried before the process exits, and track() still works", async () => {
  collector.control({ failNext: [{ status: 500, retryAfter: 1 }] });
  const { out } = await run("exit.mjs", ["node-exit-retry", "9"]);
  assert.deepEqual(out, { pending: 0, errors: [], late: "string" });
  assert.deepEqual(
    collector.events({ app: "node-exit-retry" }).map((e) => e.event_name),
    ["one", "two", "late"],
    "delivered by the retry, once",
  );
});

test("Node without shutdown(): a collector that keeps failing: given up before exit and reported to onError", async () => {
  collector.control({ failNext: [{ status: 500, retryAfter: 1 }, { status: 500, retryAfter: 1 }] });
  const { out } = await run("exit.mjs", ["node-exit-down", "1"]);
  // maxRetries 1: the first try and one retry (with the event tracked meanwhile).
  assert.deepEqual(out, { pending: 0, errors: [["request_failed", 500, 3]], late: "string" });
  assert.equal(collector.events({ app: "node-exit-down" }).length, 0);
});

test("Node: eleven trackers share one beforeExit listener (no leak warning), removed with the last", async () => {
  const r = await run("many.mjs", ["node-many"]);
  assert.deepEqual(r.out, { warnings: [], listeners: [1, 1, 1, 0], pending: 0 });
  assert.doesNotMatch(r.stderr, /MaxListenersExceeded/);
  for (let i = 0; i < 11; i++) {
    assert.deepEqual(collector.events({ app: `node-many-${i}` }).map((e) => e.i), [i], `tracker ${i} sent at exit`);
  }
});

test("Chromium: a redirect is not followed (keepalive fetch): not counted sent, retried; given up with a cause", async () => {
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/next.html`);
    collector.control({ failNext: [redirect(302), {}, redirect(301)] });
    const out = await page.evaluate(async () => {
      const { default: init, CoolaTracker } = await import("/pkg/web/coola_tracker.js");
      await init();
      const errors = [];
      const onError = (e) => errors.push([e.code, e.status, e.count, e.cause?.message]);
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const t = new CoolaTracker({ appKey: "page-redirect", endpoint, flushIntervalMs: 0, retryBaseMs: 10, onError });
      t.track("one");
      const first = await t.flush();
      const second = await t.flush();
      const g = new CoolaTracker({ appKey: "page-redirect-lost", endpoint, flushIntervalMs: 0, maxRetries: 0, onError });
      g.track("lost");
      const given = await g.flush();
      return { first, second, given, errors };
    });
    assert.deepEqual(out.first, { sent: 0, failed: 0, pending: 1, requests: 1 }, "the redirect acknowledged nothing");
    assert.deepEqual(out.second, { sent: 1, failed: 0, pending: 0, requests: 1 });
    assert.deepEqual(collector.events({ app: "page-redirect" }).map((e) => e.event_name), ["one"]);
    assert.deepEqual(out.given, { sent: 0, failed: 1, pending: 0, requests: 1 });
    // A browser hides a redirect's status from the page (an opaque response).
    assert.deepEqual(out.errors, [
      ["request_failed", 0, 1, "the endpoint redirected: set endpoint to the URL it redirects to"],
    ]);
    assert.equal(collector.events({ app: "page-redirect-lost" }).length, 0);
  } finally {
    await page.context().close();
  }
});
