// The durable queue's share of localStorage (issue 13, point 4):
// - what every event of a tab shares (user agent, screen, referrer, UTM...)
//   is stored once per tab, and a stored event read back by the next page is
//   exactly, to the byte, the event the first page would have sent;
// - the tracker's stored events stay within its byte budget: past it,
//   events are kept in memory (none dropped), storage_error is reported
//   once while it stays full, and the page keeps room of its own in Chromium's quota;
// - a gone tab's context key goes with its events.
// The figures (stored characters per event, events that fit) are printed.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { props } from "../bench/workload.mjs";
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

// A landing page as the bench and real sites have it: UTM parameters and a
// referrer, so that the shared properties are realistic.
const LANDING = "/app.html?utm_source=newsletter&utm_medium=email&utm_campaign=summer-sale-2025&utm_content=hero";

async function open() {
  const page = await newPage(browser);
  await page.goto(`${collector.url}${LANDING}`, { referer: "https://www.example.com/blog/post-42" });
  assert.equal((await pageResult(page)).ok, true);
  // The bench's 10-property event (tests/bench/workload.mjs), in the page.
  await page.evaluate((src) => {
    window.benchProps = new Function(`return (${src})`)();
  }, props.toString());
  return page;
}

test("a stored event is restored by the next page to exactly the event the first would have sent", async () => {
  const app = uniqueApp("compact");
  const storageKey = `compact-${Date.now().toString(36)}`;
  const page = await open();
  try {
    const r = await page.evaluate(
      async ({ app, storageKey }) => {
        const { benchProps } = window;
        const { CoolaTracker } = window.lib;
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        const realFetch = window.fetch;
        const bodies = [];
        // First page: its request fails at the network, so the events stay
        // queued and stored; the body shows what it sends.
        window.fetch = (url, init) => {
          bodies.push(init.body);
          return Promise.reject(new TypeError("offline"));
        };
        const hold = { retryBaseMs: 3600000, retryMaxMs: 3600000 }; // a failure backs off, nothing is dropped
        const a = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey, ...hold });
        for (let i = 0; i < 20; i++) a.track("checkout_step", benchProps(i));
        a.track("override", { session_screen_size: "1x1" }); // overrides a shared property: stored whole
        await a.flush(); // its one request fails: the body shows what it sends
        await new Promise((r) => setTimeout(r, 0)); // the end-of-task persist
        const stored = Object.keys(localStorage)
          .filter((k) => k.startsWith(`${storageKey}:q:`))
          .map((k) => localStorage.getItem(k));
        const contexts = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:ctx:`));
        const context = contexts.length === 1 ? localStorage.getItem(contexts[0]) : null;
        a.free();
        // The tab is gone (as after its page closed).
        for (const k of Object.keys(localStorage)) if (k.startsWith(`${storageKey}:tab:`)) localStorage.removeItem(k);
        // The next page claims them and sends them.
        const first = bodies.length;
        window.fetch = (url, init) => {
          bodies.push(init.body);
          return realFetch(url, init);
        };
        const b = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey });
        const failed = await b.flush();
        const wanted = bodies.slice(first);
        window.fetch = realFetch;
        const left = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:`));
        b.free();
        return { stored, context, contexts, failed, wanted, left, bodiesBefore: bodies.slice(0, first) };
      },
      { app, storageKey },
    );
    assert.equal(r.contexts.length, 1, "one context key for the tab");
    const ctx = JSON.parse(r.context);
    assert.equal(ctx.utm_campaign, "summer-sale-2025");
    assert.ok(ctx.session_dua, "the user agent is in the shared context");
    assert.equal(r.stored.length, 21);

    // What the collector received, as the second page sent it, against what
    // the first page would have sent: the same JSON text, byte for byte.
    const eventsOf = (body) => JSON.parse(new URLSearchParams(body).get("data")).events;
    const textOf = (body) => {
      const json = new URLSearchParams(body).get("data");
      const inner = json.slice('{"events":['.length, -"]}".length);
      return inner.split(/(?<=\}),(?=\{")/);
    };
    const firstTexts = r.bodiesBefore.flatMap(textOf);
    assert.equal(firstTexts.length, 21, "the first page tried to send all 21");
    const got = collector.events({ app });
    assert.equal(got.length, 21, `all 21 delivered by the next page (got ${got.length})`);
    const secondTexts = r.wanted.flatMap(textOf);
    const byId = (texts) => new Map(texts.map((t) => [JSON.parse(t).event_id, t]));
    const before = byId(firstTexts);
    const afterRestore = byId(secondTexts);
    assert.equal(afterRestore.size, 21);
    for (const [id, text] of before) assert.equal(afterRestore.get(id), text, `event ${id} restored exactly`);
    assert.deepEqual(
      eventsOf(r.wanted[0]).map((e) => e.event_name).slice(-2),
      ["checkout_step", "override"],
      "order kept",
    );
    assert.deepEqual(r.left.filter((k) => !k.includes(":tab:") && !k.includes(":user_id")).filter((k) => k.includes(":q:")), [], "no event left stored");
    assert.ok(
      r.left.filter((k) => k.includes(":ctx:")).length <= 1,
      `the gone tab's context was removed with its events: ${r.left.join(", ")}`,
    );

    const full = firstTexts.slice(0, 20).reduce((n, t) => n + t.length, 0) / 20;
    const compact = r.stored.filter((s) => /,"":\d+\}$/.test(s)).reduce((n, s, _, all) => n + s.length / all.length, 0);
    assert.ok(compact < full * 0.6, `stored ${compact} characters an event for ${full} sent`);
    console.log(`# stored characters per event of the bench's shape: ${full.toFixed(0)} before (the event whole), ${compact.toFixed(0)} now, plus ${r.context.length} once per tab`);
  } finally {
    await page.context().close();
  }
});

test("the budget bounds the tracker's share of localStorage: past it events stay in memory, reported once", async () => {
  const app = uniqueApp("fit");
  const storageKey = `fit-${Date.now().toString(36)}`;
  const page = await open();
  try {
    const r = await page.evaluate(
      async ({ app, storageKey }) => {
        const { benchProps } = window;
        const { CoolaTracker } = window.lib;
        window.fetch = () => new Promise(() => {}); // nothing is acknowledged
        const errors = [];
        const t = new CoolaTracker({
          appKey: app,
          endpoint: `${location.origin}/v3/{appKey}/track`,
          flushIntervalMs: 0,
          storageKey,
          maxQueueSize: 100000,
          onError: (e) => errors.push({ code: e.code, count: e.count, message: e.message }),
        });
        const count = () => Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:q:`)).length;
        for (let i = 0; i < 5000; i++) {
          t.track("checkout_step", benchProps(i));
          if (i % 500 === 499) await new Promise((r) => setTimeout(r, 0));
        }
        await new Promise((r) => setTimeout(r, 0));
        const at5k = { stored: count(), errors: errors.slice() };
        // On until the budget stops it: how many fit in all.
        let i = 5000;
        while (!errors.some((e) => e.code === "storage_error") && i < 40000) {
          for (let j = 0; j < 500; j++, i++) t.track("checkout_step", benchProps(i));
          await new Promise((r) => setTimeout(r, 0));
        }
        // Still full: tasks that track more and persist report nothing new.
        for (let task = 0; task < 6; task++) {
          for (let j = 0; j < 500; j++, i++) t.track("checkout_step", benchProps(i));
          await new Promise((r) => setTimeout(r, 0));
        }
        const fit = count();
        let chars = 0;
        for (const k of Object.keys(localStorage)) chars += k.length + localStorage.getItem(k).length;
        // The page still has room of its own.
        let pageRoom = true;
        try {
          localStorage.setItem("the-page-own", "x".repeat(500000));
          localStorage.removeItem("the-page-own");
        } catch (_) {
          pageRoom = false;
        }
        const pending = t.pending;
        const storageErrors = errors.filter((e) => e.code === "storage_error");
        t.free();
        for (const k of Object.keys(localStorage)) if (k.startsWith(`${storageKey}:`)) localStorage.removeItem(k);
        return { at5k, fit, tracked: i, pending, storageErrors, chars, pageRoom };
      },
      { app, storageKey },
    );
    assert.equal(r.at5k.stored, 5000, "the first 5,000 are all stored");
    assert.deepEqual(r.at5k.errors, [], "no error while under the budget");
    assert.ok(r.chars <= 3_000_000 + 100_000, `the tracker's keys take ${r.chars} characters, about its budget of 3,000,000`);
    assert.equal(r.storageErrors.length, 1, `storage_error once, however many tasks track while full: ${JSON.stringify(r.storageErrors)}`);
    assert.match(r.storageErrors[0].message, /kept in memory/);
    assert.ok(r.storageErrors[0].count > 0);
    assert.equal(r.pending, r.tracked, "nothing dropped: the rest is kept in memory");
    assert.ok(r.pageRoom, "the page keeps room of its own in localStorage");
    console.log(`# events of the bench's shape that fit in the tracker's budget: ${r.fit} (${r.chars} characters of localStorage)`);
  } finally {
    await page.context().close();
  }
});

// Runs `fn` in a fresh landing page, given a unique app key and storage key.
async function inPage(name, fn) {
  const app = uniqueApp(name);
  const storageKey = `${name}-${Date.now().toString(36)}`;
  const page = await open();
  try {
    return await page.evaluate(fn, { app, storageKey });
  } finally {
    await page.context().close();
  }
}

test("writes the storage refused are made once it has room again, one attempt a task while it has none", async () => {
  const r = await inPage("refused", async ({ app, storageKey }) => {
    const { CoolaTracker } = window.lib;
    window.fetch = () => new Promise(() => {}); // nothing is acknowledged
    // The quota is full for the tracker's event keys until `full` is cleared.
    const realSet = Storage.prototype.setItem;
    let full = true;
    let refusals = 0;
    Storage.prototype.setItem = function (k, v) {
      if (full && k.startsWith(`${storageKey}:q:`)) {
        refusals++;
        throw new DOMException("the quota is full", "QuotaExceededError");
      }
      return realSet.call(this, k, v);
    };
    const errors = [];
    const t = new CoolaTracker({
      appKey: app,
      endpoint: `${location.origin}/v3/{appKey}/track`,
      flushIntervalMs: 0,
      storageKey,
      onError: (e) => errors.push(e.code),
    });
    const tick = () => new Promise((r) => setTimeout(r, 0));
    const stored = () => Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:q:`)).length;
    for (let i = 0; i < 20; i++) t.track("e", { i });
    await tick();
    const first = { stored: stored(), refusals };
    // Still full: three more tasks that track and persist.
    for (let task = 0; task < 3; task++) {
      for (let i = 0; i < 20; i++) t.track("e", { i });
      await tick();
    }
    const whileFull = { stored: stored(), refusals };
    full = false;
    // Room again: the next task writes everything queued.
    t.track("e", { i: 0 });
    await tick();
    const contexts = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:ctx:`)).length;
    const after = { stored: stored(), pending: t.pending, contexts };
    Storage.prototype.setItem = realSet;
    t.free();
    for (const k of Object.keys(localStorage)) if (k.startsWith(`${storageKey}:`)) localStorage.removeItem(k);
    return { first, whileFull, after, errors };
  });
  assert.deepEqual(r.first, { stored: 0, refusals: 1 }, "the first refusal stops the writes after it");
  assert.deepEqual(r.whileFull, { stored: 0, refusals: 4 }, "one write tried a task while the storage is full, not one an event");
  assert.deepEqual(
    r.after,
    { stored: 81, pending: 81, contexts: 1 },
    "every queued event stored by the first task after the storage takes writes again, with the one context that was made",
  );
  assert.deepEqual(r.errors, ["storage_error"], "the refusal reported once");
});

test("a context the storage refused is written again before an event that names it is stored", async () => {
  const r = await inPage("refused-ctx", async ({ app, storageKey }) => {
    const { CoolaTracker } = window.lib;
    window.fetch = () => new Promise(() => {}); // nothing is acknowledged
    const realSet = Storage.prototype.setItem;
    let full = true;
    Storage.prototype.setItem = function (k, v) {
      if (full && (k.startsWith(`${storageKey}:q:`) || k.startsWith(`${storageKey}:ctx:`))) {
        throw new DOMException("the quota is full", "QuotaExceededError");
      }
      return realSet.call(this, k, v);
    };
    const t = new CoolaTracker({
      appKey: app,
      endpoint: `${location.origin}/v3/{appKey}/track`,
      flushIntervalMs: 0,
      storageKey,
      onError: () => {},
    });
    const tick = () => new Promise((r) => setTimeout(r, 0));
    for (let i = 0; i < 5; i++) t.track("e", { i });
    await tick();
    full = false;
    t.track("e", { i: 5 });
    await tick();
    const keys = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:`));
    const events = keys.filter((k) => k.includes(":q:")).map((k) => localStorage.getItem(k));
    const contexts = keys.filter((k) => k.includes(":ctx:"));
    Storage.prototype.setItem = realSet;
    t.free();
    for (const k of keys) localStorage.removeItem(k);
    return { events, contexts };
  });
  assert.equal(r.events.length, 6, "every event stored once there is room");
  const named = new Set(r.events.map((e) => /,"":(\d+)\}$/.exec(e)?.[1]).filter(Boolean));
  assert.ok(named.size >= 1, "the stored events name their context");
  for (const n of named) {
    assert.ok(
      r.contexts.some((k) => k.endsWith(`:${n}`)),
      `context ${n} that stored events name is in storage: ${r.contexts.join(", ")}`,
    );
  }
});

test("optOut() called from a page's setItem wrapper while the tracker writes leaves nothing of the visitor stored", async () => {
  const left = await inPage("optout-wrap", async ({ app, storageKey }) => {
    const { CoolaTracker } = window.lib;
    window.fetch = () => new Promise(() => {}); // nothing is acknowledged
    const realSet = Storage.prototype.setItem;
    let t;
    let armed = false;
    // A consent manager's wrapper: the visitor's choice arrives while the
    // tracker is writing its first events.
    Storage.prototype.setItem = function (k, v) {
      const r = realSet.call(this, k, v);
      if (armed && k.startsWith(storageKey) && /:(q|ctx):/.test(k)) {
        armed = false;
        t.optOut();
      }
      return r;
    };
    t = new CoolaTracker({
      appKey: app,
      endpoint: `${location.origin}/v3/{appKey}/track`,
      flushIntervalMs: 0,
      storageKey,
      onError: () => {},
    });
    await new Promise((r) => setTimeout(r, 0));
    armed = true;
    for (let i = 0; i < 3; i++) t.track("e", { i });
    await new Promise((r) => setTimeout(r, 0));
    const keys = Object.keys(localStorage).filter((k) => k.startsWith(`${storageKey}:`));
    Storage.prototype.setItem = realSet;
    const out = { keys, optedOut: t.optedOut, pending: t.pending, armed };
    t.free();
    for (const k of keys) localStorage.removeItem(k);
    return out;
  });
  assert.equal(left.armed, false, "the wrapper opted out during a write");
  assert.equal(left.optedOut, true);
  assert.equal(left.pending, 0);
  const visitor = left.keys.filter((k) => /:(q|ctx):|:session$|:user_id$/.test(k));
  assert.deepEqual(visitor, [], `no event, context, session or anonymous id left: ${left.keys.join(", ")}`);
});
