// The app key appears in no error message, no onError payload, no console
// output and no stored data.
//
// In a page: trackers with a distinctive app key against a collector that
// fails (500s, then a 400 and a 403), a closed port, a full queue, bad
// input and bad options. Every property of every error (thrown or given to
// onError) is serialized, every console call of the page's code is
// captured (before any page script runs), and every localStorage,
// sessionStorage and cookie entry is scanned, also after a reload that
// claims the stored queue. The cooladata drop-in, which logs problems to
// the console, is run the same way. In Node: a child process with the same
// trackers, whose stdout and stderr are scanned.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PKG, SECRET, launch, newPage, pageResult, requirePkg, startCollector, uniqueApp } from "./helpers.mjs";

let browser;
let collector;

before(async () => {
  requirePkg();
  [browser, collector] = await Promise.all([launch(), startCollector()]);
});

after(async () => {
  await browser?.close();
  await collector?.close();
});

function leaks(text, app) {
  return text.includes(SECRET) || text.includes(app) || text.includes(encodeURIComponent(app));
}

// Runs in the page: every error of the library's API, serialized with all
// of its own and inherited properties; what storage holds afterwards.
async function exercise({ app, storageKey }) {
  const { CoolaTracker, validateEvent, parseTimestamp, encodeBatch } = window.lib;
  const ser = (e) => {
    const out = [String(e)];
    for (let o = e; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const k of Reflect.ownKeys(o)) {
        let v;
        try {
          v = o[k];
        } catch (_) {
          v = "<threw>";
        }
        if (typeof v !== "function") out.push(`${String(k)}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
      }
    }
    return out.join(" | ");
  };
  const reported = [];
  const thrown = [];
  const attempt = (f) => {
    try {
      f();
    } catch (e) {
      thrown.push(ser(e));
    }
  };
  const onError = (e) => {
    reported.push(ser(e));
    throw new Error("this onError handler throws too");
  };
  const endpoint = `${location.origin}/v3/{appKey}/track`;
  const base = { appKey: app, endpoint, flushIntervalMs: 0, storageKey, retryBaseMs: 10, retryMaxMs: 20 };

  // 500s, given up after 2 tries; a full queue.
  const a = new CoolaTracker({ ...base, maxRetries: 1, maxQueueSize: 3, onError });
  for (let i = 0; i < 5; i++) a.track("overflow", { i });
  await a.flush();
  await new Promise((r) => setTimeout(r, 200));
  await a.flush();
  // Bad input.
  attempt(() => a.track("e", { nested: { a: 1 } }));
  attempt(() => a.track(null, {}));
  attempt(() => a.track("e", { uid: "x" }));
  attempt(() => a.track("e", { d: new Date() }));
  attempt(() => a.track("e", "not an object"));
  attempt(() => a.track("e", { big: "x".repeat(200_000) }));
  attempt(() => a.setUserId(""));
  attempt(() => validateEvent({ event_name: "e" }));
  attempt(() => parseTimestamp("yesterday"));
  attempt(() => encodeBatch(new Array(301).fill({})));
  // Bad options, some with the key in the endpoint.
  attempt(() => new CoolaTracker({ ...base, endpoint: `http://example.com/v3/${app}/track` }));
  attempt(() => new CoolaTracker({ ...base, endpoint: `ftp://${app}.example.com/` }));
  attempt(() => new CoolaTracker({ ...base, batchSize: 0 }));
  attempt(() => new CoolaTracker({ ...base, onError: "log" }));
  // A closed port: network errors, given up at once.
  const b = new CoolaTracker({ ...base, endpoint: "http://127.0.0.1:1/v3/{appKey}/track", maxRetries: 0, onError });
  b.track("lost", {});
  await b.flush();
  // Events kept in storage while the collector keeps failing (default
  // retries and backoff: still queued when the page reloads).
  const c = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey, onError });
  for (let i = 0; i < 3; i++) c.track("kept", { i });
  await c.flush();
  await new Promise((r) => setTimeout(r, 100));
  a.free();
  b.free();
  return { reported, thrown, pending: c.pending };
}

function dumpStorage() {
  const out = [];
  for (const s of [localStorage, sessionStorage]) {
    for (let i = 0; i < s.length; i++) {
      const k = s.key(i);
      out.push(`${k}=${s.getItem(k)}`);
    }
  }
  out.push(`cookie=${document.cookie}`);
  return out;
}

test("page: no error, onError payload, console output or stored data holds the app key", async () => {
  const app = uniqueApp("leak");
  const storageKey = `leak-${Date.now().toString(36)}`;
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/app.html`);
    assert.equal((await pageResult(page)).ok, true);
    collector.control({ fail500: 1, retryAfter: null });
    const r = await page.evaluate(exercise, { app, storageKey });

    const codes = (list) => list.map((s) => /code=(\w+)/.exec(s)?.[1]);
    assert.ok(codes(r.reported).includes("queue_full"), `reported: ${codes(r.reported)}`);
    assert.ok(codes(r.reported).includes("request_failed"), `reported: ${codes(r.reported)}`);
    for (const c of ["nested_property", "missing_field", "reserved_property", "invalid_value", "event_too_large",
      "invalid_timestamp", "batch_too_large", "invalid_option"]) {
      assert.ok(codes(r.thrown).includes(c), `no ${c} thrown: ${codes(r.thrown)}`);
    }
    assert.equal(r.pending, 3, "the failing collector keeps 3 events queued");

    for (const s of [...r.reported, ...r.thrown]) assert.ok(!leaks(s, app), `the app key is in an error: ${s}`);

    const stored = await page.evaluate(dumpStorage);
    assert.ok(stored.some((s) => s.startsWith(`${storageKey}:q:`)), `nothing was stored: ${stored}`);
    for (const s of stored) assert.ok(!leaks(s, app), `the app key is in storage: ${s.slice(0, 300)}`);

    // A reload (the collector still failing, so the page's last try on
    // pagehide fails too) leaves the queue to the next page, which claims
    // and sends it; still nothing with the key.
    await page.reload();
    assert.equal((await pageResult(page)).ok, true);
    collector.control({ fail500: 0 });
    assert.equal(collector.events({ app }).length, 0, "nothing got through the failing collector");
    const claimed = await page.evaluate(async ({ app, storageKey }) => {
      const beats = Object.keys(localStorage)
        .filter((k) => k.startsWith(`${storageKey}:tab:`))
        .map((k) => `${localStorage.getItem(k)} (${Date.now() - Number(localStorage.getItem(k))} ms ago)`);
      const queued = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:q:`)).length;
      const seen = [];
      const t = new window.lib.CoolaTracker({
        appKey: app,
        endpoint: `${location.origin}/v3/{appKey}/track`,
        flushIntervalMs: 0,
        storageKey,
        onError: (e) => seen.push(`${e.code} ${e.message}`),
      });
      const report = await t.flush();
      return { report, seen, beats, queued };
    }, { app, storageKey });
    assert.equal(claimed.report.pending, 0, `the stored events were not sent: ${JSON.stringify(claimed)}`);
    const arrived = collector.events({ app }).map((e) => `${e.event_name}${e.i ?? ""}`);
    assert.deepEqual(arrived.sort(), ["kept0", "kept1", "kept2"], JSON.stringify({ claimed, arrived }));
    for (const s of [...claimed.seen, ...(await page.evaluate(dumpStorage))]) {
      assert.ok(!leaks(s, app), `the app key is in: ${s}`);
    }

    // Console: every call the page's code made, and what the browser showed.
    const calls = await page.evaluate(() => window.__console);
    for (const c of calls) assert.ok(!leaks(c, app), `the app key is in console output: ${c}`);
    for (const l of page.logs) {
      // The browser's own network log names the request URL, which holds the
      // app key by CoolaData's design (/v3/{appKey}/track): allowed only there.
      if (/^Failed to load resource/.test(l.text)) continue;
      assert.ok(!leaks(l.text, app), `the app key is in the console: ${JSON.stringify(l)}`);
    }
  } finally {
    collector.control({ fail500: 0 });
    await page.context().close();
  }
});

test("page: the cooladata drop-in logs problems without the app key", async () => {
  const app = uniqueApp("dropin-leak");
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/app.html`);
    await pageResult(page);
    await page.addScriptTag({ url: "/pkg/web/cooladata.global.js" });
    collector.control({ failNext: [{ status: 400 }] });
    const r = await page.evaluate(async (app) => {
      const cd = window.cooladata;
      cd.init({ app_key: app, api_host: location.host, tracker: { maxRetries: 0 } });
      const errs = [];
      await new Promise((resolve) => cd.trackEvent("dropin", { i: 1 }, (e) => resolve(errs.push(e ? `${e.code} ${e.message}` : "ok"))));
      cd.trackEvent("bad", { nested: { a: 1 } });
      cd.trackEvent(42);
      cd.setConfig({ user_id: "" });
      await cd.flush();
      await new Promise((r) => setTimeout(r, 100));
      return { errs, calls: window.__console.slice() };
    }, app);
    assert.ok(r.calls.length > 0, "the drop-in logged nothing: the check would be empty");
    for (const c of [...r.errs, ...r.calls]) assert.ok(!leaks(c, app), `the app key is in: ${c}`);
    for (const l of page.logs) {
      if (/^Failed to load resource/.test(l.text)) continue;
      assert.ok(!leaks(l.text, app), `the app key is in the console: ${JSON.stringify(l)}`);
    }
  } finally {
    await page.context().close();
  }
});

test("node: nothing the library prints or reports holds the app key", async () => {
  const app = uniqueApp("node-leak");
  const script = `
    const { CoolaTracker, validateEvent } = await import(${JSON.stringify(join(PKG, "node", "index.mjs"))});
    const app = process.env.APP;
    const seen = [];
    const ser = (e) => [String(e), ...Object.getOwnPropertyNames(e).map((k) => k + "=" + String(e[k]))].join(" | ");
    const onError = (e) => { seen.push(ser(e)); throw new Error("handler throws"); };
    const a = new CoolaTracker({ appKey: app, endpoint: "http://127.0.0.1:1/v3/{appKey}/track", flushIntervalMs: 50,
      maxRetries: 0, maxQueueSize: 2, onError });
    for (let i = 0; i < 4; i++) a.track("e", { i });
    for (const f of [() => a.track("e", { n: {} }), () => a.track(null), () => validateEvent({}),
      () => new CoolaTracker({ appKey: app, endpoint: "http://example.com/v3/" + app + "/track" })]) {
      try { f(); } catch (e) { seen.push(ser(e)); }
    }
    await a.flush();
    // One without onError, left with queued events when the process ends.
    const b = new CoolaTracker({ appKey: app, endpoint: "http://127.0.0.1:1/v3/{appKey}/track", flushIntervalMs: 20, maxRetries: 0 });
    b.track("e", {});
    await new Promise((r) => setTimeout(r, 200));
    process.stderr.write("SEEN " + JSON.stringify(seen) + "\\n");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, APP: app },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const code = await new Promise((r) => child.on("close", r));
  assert.equal(code, 0, out);
  const seenLine = out.split("\n").find((l) => l.startsWith("SEEN "));
  assert.ok(seenLine, out);
  const seen = JSON.parse(seenLine.slice(5));
  assert.ok(seen.some((s) => s.includes("request_failed")), `no request_failed: ${seen}`);
  assert.ok(seen.some((s) => s.includes("queue_full")), `no queue_full: ${seen}`);
  assert.ok(!leaks(out, app), `the app key is in the output:\n${out}`);
  const rest = out.split("\n").filter((l) => l && !l.startsWith("SEEN "));
  assert.deepEqual(rest, [], "the library printed something");
});
