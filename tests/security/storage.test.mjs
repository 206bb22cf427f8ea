// Stored queue data from another format, or tampered with, is refused
// without being sent: the collector receives only the good events, onError
// gets `storage_error` with the count, the bad entries are removed, and
// nothing stored is executed or pollutes a prototype.
//
// The entries are written under the tracker's own keys
// (`<storageKey>:q:<tab>:<seq>`, `<tab>` = `<8 hex digits of the app>.<id>`)
// for a tab with no heartbeat (gone), so that the next tracker of the same
// app claims them. The app's 8 hex digits are read from the heartbeat key
// (`<storageKey>:tab:<tab>`) that a first tracker writes.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, newPage, pageResult, requirePkg, startCollector, uniqueApp } from "./helpers.mjs";

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

// Runs in the page. `entries(ctx)` gives [key suffix or full key, value,
// kind] rows: kind "good" (must be sent), "bad" (must be refused and
// removed), "foreign" (another app's: left alone).
async function tamper({ app, storageKey, plan }) {
  const { CoolaTracker } = window.lib;
  const endpoint = `${location.origin}/v3/{appKey}/track`;
  const probe = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey });
  const beat = Object.keys(localStorage).find((k) => k.startsWith(`${storageKey}:tab:`));
  const appHash = beat.slice(`${storageKey}:tab:`.length).split(".")[0];
  probe.free();
  localStorage.removeItem(beat);
  const dead = `${appHash}.deadbeef0001`;
  const other = `${appHash === "ffffffff" ? "eeeeeeee" : "ffffffff"}.cafe0001`;
  const now = Date.now();
  const valid = (i, extra = {}) => ({
    event_name: `good${i}`,
    user_id: "stored-user",
    event_timestamp_epoch: now - 10_000 + i,
    event_id: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, "0")}`,
    ...extra,
  });
  const rows = {
    good: [
      [1, JSON.stringify(valid(1))],
      // A script-like string is data: sent unchanged, never run.
      [2, JSON.stringify(valid(2, { text: "<img src=x onerror=\"window.__pwned='img'\"><script>window.__pwned='script'</script>" }))],
      [3, JSON.stringify(valid(3, { __proto__: null, constructor: "c" }))],
    ],
    bad: [
      [10, "not json {"],
      [11, "<script>window.__pwned = 'raw script'</script>"],
      [12, "(function(){ window.__pwned = 'iife' })()"],
      [13, JSON.stringify("javascript:window.__pwned='json string'")],
      [14, JSON.stringify({ ...valid(14), nested: { a: 1 } })],
      [15, JSON.stringify({ ...valid(15), list: [1, 2] })],
      [16, JSON.stringify((({ event_id, ...rest }) => rest)(valid(16)))],
      [17, JSON.stringify({ ...valid(17), event_id: "" })],
      [18, `{"event_name":"good18","user_id":"u","event_timestamp_epoch":${now},"event_id":"x18","__proto__":{"polluted":"yes"}}`],
      [19, JSON.stringify([valid(19)])],
      [20, "null"],
      [21, "42"],
      [22, JSON.stringify({ ...valid(22), uid: "reserved" })],
      [23, JSON.stringify({ ...valid(23), event_timestamp_epoch: "yesterday" })],
      [24, JSON.stringify({ ...valid(24), event_name: 42 })],
      [25, JSON.stringify({ ...valid(25), big: "x".repeat(150_000) })],
      [26, JSON.stringify({ ...valid(26), user_id: "" })],
      [27, ""],
    ],
  };
  for (const [seq, v] of rows.good) localStorage.setItem(`${storageKey}:q:${dead}:${seq}`, v);
  for (const [seq, v] of rows.bad) localStorage.setItem(`${storageKey}:q:${dead}:${seq}`, v);
  // Keys that are not the tracker's format: refused and removed too.
  const badKeys = [`${storageKey}:q:garbage`, `${storageKey}:q:not-a-tab:1`, `${storageKey}:q:${dead}:x`];
  for (const k of badKeys) localStorage.setItem(k, JSON.stringify(valid(90)));
  // Another app's queue (same prefix): left alone, not sent.
  const foreign = `${storageKey}:q:${other}:1`;
  localStorage.setItem(foreign, JSON.stringify(valid(91)));

  const reported = [];
  const t = new CoolaTracker({
    appKey: app,
    endpoint,
    flushIntervalMs: 0,
    storageKey,
    onError: (e) => {
      reported.push({ code: e.code, count: e.count, message: e.message });
      throw new Error("this onError throws");
    },
  });
  const report = await t.flush();
  await new Promise((r) => setTimeout(r, 50));
  return {
    report,
    reported,
    expectedBad: rows.bad.length + badKeys.length,
    remaining: Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:q:`)),
    foreign,
    pwned: window.__pwned ?? null,
    polluted: {}.polluted ?? null,
    plan,
  };
}

test("tampered and foreign queue entries are refused unsent and reported", async () => {
  const app = uniqueApp("tamper");
  const storageKey = `tamper-${Date.now().toString(36)}`;
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/app.html`);
    assert.equal((await pageResult(page)).ok, true);
    const r = await page.evaluate(tamper, { app, storageKey, plan: "all" });

    const got = collector.events({ app });
    assert.deepEqual(got.map((e) => e.event_name), ["good1", "good2", "good3"], `collector got ${JSON.stringify(got)}`);
    assert.equal(got[1].text, "<img src=x onerror=\"window.__pwned='img'\"><script>window.__pwned='script'</script>");
    assert.equal(got[2].constructor, "c");
    assert.deepEqual(got.map((e) => e.event_id.slice(-2)), ["01", "02", "03"]);
    assert.deepEqual(r.report, { sent: 3, failed: 0, pending: 0, requests: 1 });

    const storageErrors = r.reported.filter((e) => e.code === "storage_error");
    assert.equal(storageErrors.length, 1, JSON.stringify(r.reported));
    assert.equal(storageErrors[0].count, r.expectedBad, storageErrors[0].message);
    assert.deepEqual(r.reported.map((e) => e.code), ["storage_error"]);

    assert.deepEqual(r.remaining, [r.foreign], "bad entries removed, another app's kept");
    assert.equal(r.pwned, null, "stored text was executed");
    assert.equal(r.polluted, null, "a prototype was polluted");
    assert.deepEqual(page.logs.filter((l) => l.type === "pageerror"), []);
  } finally {
    await page.context().close();
  }
});

// With only bad entries (nothing claimed to send), what is reported when.
async function onlyBad(app, storageKey) {
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/app.html`);
    assert.equal((await pageResult(page)).ok, true);
    const r = await page.evaluate(async ({ app, storageKey }) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const probe = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey });
      const beat = Object.keys(localStorage).find((k) => k.startsWith(`${storageKey}:tab:`));
      const appHash = beat.slice(`${storageKey}:tab:`.length).split(".")[0];
      probe.free();
      localStorage.removeItem(beat);
      localStorage.setItem(`${storageKey}:q:${appHash}.deadbeef0002:1`, "<script>alert(1)</script>");
      localStorage.setItem(`${storageKey}:q:${appHash}.deadbeef0002:2`, '{"event_name":{"a":1}}');
      const reported = [];
      const t = new CoolaTracker({
        appKey: app,
        endpoint,
        flushIntervalMs: 0,
        storageKey,
        onError: (e) => reported.push(`${e.code} ${e.count}`),
      });
      await t.flush();
      await new Promise((r) => setTimeout(r, 100));
      const before = reported.slice();
      t.track("later", {});
      await t.flush();
      const remaining = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:q:`));
      return { before, after: reported.slice(), remaining };
    }, { app, storageKey });
    assert.deepEqual(collector.events({ app }).map((e) => e.event_name), ["later"]);
    return r;
  } finally {
    await page.context().close();
  }
}

test("only bad entries: refused, removed and reported (by the next track at the latest)", async () => {
  const r = await onlyBad(uniqueApp("tamper-only-bad"), `tamper2-${Date.now().toString(36)}`);
  assert.deepEqual(r.after, ["storage_error 2"]);
  assert.deepEqual(r.remaining, []);
});

test(
  "only bad entries: storage_error is reported without waiting for a track() ",
  async () => {
    const r = await onlyBad(uniqueApp("tamper-only-bad2"), `tamper3-${Date.now().toString(36)}`);
    assert.deepEqual(r.before, ["storage_error 2"], "reported before the next track()");
  },
);
