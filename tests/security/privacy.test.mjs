// Privacy, sessions, page views and hooks (issue 11, api.md's section of
// that name) in headless Chromium against the local collector: opt-out
// purges memory, storage and an in-flight retry; the choice survives a
// reload and reaches other tabs; Global Privacy Control with
// privacySignals; sessions shared by two tabs and kept across a reload;
// "history" page views and pushState restored after shutdown(); every
// beforeSend outcome; setProperties; sampling; debug output without the
// app key.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SECRET, launch, newPage, pageResult, requirePkg, startCollector, uniqueApp, waitFor } from "./helpers.mjs";

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

async function open(page = null, path = "/app.html") {
  page ??= await newPage(browser);
  await page.goto(`${collector.url}${path}`);
  assert.equal((await pageResult(page)).ok, true);
  return page;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const storageKeyOf = (tag) => `${tag}-${Date.now().toString(36)}`;

test("optOut() drops what is queued, stored and in flight, and nothing is sent or retried after it", async () => {
  const app = uniqueApp("optout");
  const storageKey = storageKeyOf("optout");
  const page = await open();
  try {
    // The one request fails with 503 after a delay: it is in flight when optOut() is called.
    collector.control({ failNext: [{ status: 503 }], delayMs: [400, 400] });
    const r = await page.evaluate(
      async ({ app, storageKey }) => {
        const { CoolaTracker } = window.lib;
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey, retryBaseMs: 50, retryMaxMs: 50 });
        for (let i = 0; i < 3; i++) t.track("before", { i });
        await new Promise((r) => setTimeout(r, 0));
        const keys = () => Object.keys(localStorage).filter((k) => k.startsWith(storageKey + ":"));
        const storedBefore = keys().filter((k) => k.includes(":q:")).length;
        const sessionBefore = t.sessionId;
        const userBefore = t.userId;
        const flushing = t.flush();
        await new Promise((r) => setTimeout(r, 100)); // the request is in flight
        t.optOut();
        const pendingAfter = t.pending;
        const report = await flushing;
        const ignored = t.track("while_out", { i: 9 });
        let threw = null;
        try {
          t.track("while_out", { nested: { a: 1 } });
        } catch (e) {
          threw = e.code;
        }
        await new Promise((r) => setTimeout(r, 1200)); // the 503 arrives; a retry would follow within 50 ms
        await new Promise((r) => setTimeout(r, 0));
        return {
          storedBefore,
          sessionBefore,
          userChanged: t.userId !== userBefore,
          pendingAfter,
          report,
          ignored,
          threw,
          optedOut: t.optedOut,
          sessionAfter: t.sessionId,
          left: keys().filter((k) => !k.includes(":tab:")),
          consent: localStorage.getItem(storageKey + ":consent"),
          pending: t.pending,
        };
      },
      { app, storageKey },
    );
    assert.equal(r.storedBefore, 3, "the events were stored before");
    assert.notEqual(r.sessionBefore, "");
    assert.equal(r.pendingAfter, 0);
    assert.equal(r.report.pending, 0, JSON.stringify(r.report));
    assert.equal(r.ignored, "", "opted out: track returns \"\"");
    assert.equal(r.threw, "nested_property", "opted out: bad input still throws");
    assert.equal(r.optedOut, true);
    assert.equal(r.userChanged, true, "the anonymous id is forgotten");
    assert.equal(r.sessionAfter, "");
    assert.deepEqual(r.left, [`${storageKey}:consent`], "only the saved choice is left");
    assert.equal(r.consent, "out");
    assert.equal(r.pending, 0);
    const stats = collector.stats();
    assert.equal(collector.events({ app }).length, 0, "nothing arrived: the failed request was not retried");
    assert.ok(stats.requests >= 1);
  } finally {
    collector.control({ failNext: [], delayMs: [0, 0] });
    await page.context().close();
  }
});

test("optOut() removes each stored event and context once, and only where it is still stored", async () => {
  const app = uniqueApp("optout-once");
  const storageKey = storageKeyOf("optout-once");
  const page = await open();
  try {
    const r = await page.evaluate(
      async ({ app, storageKey }) => {
        const { CoolaTracker } = window.lib;
        window.fetch = () => new Promise(() => {}); // nothing is acknowledged: everything stays stored
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey });
        for (let i = 0; i < 3; i++) t.track("before", { i });
        await new Promise((r) => setTimeout(r, 0));
        const mine = (k) => k.startsWith(storageKey + ":") && (k.includes(":q:") || k.includes(":ctx:"));
        const stored = Object.keys(localStorage).filter(mine);
        const removed = [];
        const absent = [];
        const rm = Storage.prototype.removeItem;
        Storage.prototype.removeItem = function (k) {
          if (mine(k)) (this.getItem(k) === null ? absent : removed).push(k);
          return rm.call(this, k);
        };
        try {
          t.optOut();
          t.optOut(); // a second call finds nothing of this tab left to remove
        } finally {
          Storage.prototype.removeItem = rm;
        }
        t.free();
        return { stored, removed, absent, left: Object.keys(localStorage).filter(mine) };
      },
      { app, storageKey },
    );
    assert.equal(r.stored.filter((k) => k.includes(":ctx:")).length, 1, `one context stored: ${r.stored}`);
    assert.deepEqual([...r.removed].sort(), [...r.stored].sort(), "each stored event and context removed once");
    assert.deepEqual(r.absent, [], "no removal of a key that is no longer stored");
    assert.deepEqual(r.left, []);
  } finally {
    await page.context().close();
  }
});

test("the choice is kept across a reload, and reaches another tab at once", async () => {
  const app = uniqueApp("choice");
  const storageKey = storageKeyOf("choice");
  const context = await browser.newContext();
  const [a, b] = [await open(await context.newPage()), await open(await context.newPage())];
  const make = (page, extra = {}) =>
    page.evaluate(
      ({ app, storageKey, extra }) => {
        const { CoolaTracker } = window.lib;
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        window.t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey, ...extra });
        return window.t.optedOut;
      },
      { app, storageKey, extra },
    );
  try {
    assert.equal(await make(a), false);
    assert.equal(await make(b), false);
    await b.evaluate(() => window.t.track("queued_in_b"));
    await a.evaluate(() => window.t.optOut());
    // The other tab follows through the storage event, before its next track().
    await waitFor(() => b.evaluate(() => window.t.optedOut), { what: "tab b opted out" });
    assert.equal(await b.evaluate(() => window.t.pending), 0, "tab b's queue was purged");
    assert.equal(await b.evaluate(() => window.t.track("x")), "");
    await b.reload();
    assert.equal((await pageResult(b)).ok, true);
    assert.equal(await make(b), true, "the next page load starts opted out");
    assert.equal(await make(b, { optOut: false }), false, "optOut: false given by the site wins over the saved choice");
    assert.equal(await make(b, { optOut: false, autoPageViews: "history" }), false);
    assert.equal(
      await b.evaluate(() => {
        history.pushState({}, "", "?navigated");
        return window.t.optedOut;
      }),
      false,
      "a navigation does not bring back the choice the site overrode",
    );
    await b.evaluate(() => window.t.optIn());
    await waitFor(() => a.evaluate(() => !window.t.optedOut), { what: "tab a opted in" });
    await b.reload();
    assert.equal((await pageResult(b)).ok, true);
    assert.equal(await make(b), false);
    assert.equal(await make(b, { optOut: true }), true, "optOut: true always starts opted out");
    const id = await b.evaluate(async () => {
      const t = window.t;
      t.optIn();
      const id = t.track("after_opt_in");
      await t.flush();
      return id;
    });
    assert.equal(id.length, 36);
    assert.deepEqual(
      collector.events({ app }).map((e) => e.event_name),
      ["page_view", "page_view", "after_opt_in"],
      "events tracked while opted out are not recovered (the page views are the optOut: false tracker's)",
    );
  } finally {
    await context.close();
  }
});

test("two tabs send one anonymous id after optOut() and optIn() in one of them, and the next tab takes it", async () => {
  const app = uniqueApp("one-id");
  const storageKey = storageKeyOf("one-id");
  const context = await browser.newContext();
  const make = (page) =>
    page.evaluate(
      ({ app, storageKey }) => {
        const { CoolaTracker } = window.lib;
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        window.t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey });
        return window.t.userId;
      },
      { app, storageKey },
    );
  try {
    const [a, b] = [await open(await context.newPage()), await open(await context.newPage())];
    const first = await make(a);
    assert.equal(await make(b), first, "both tabs start with the stored id");
    const ids = () => Promise.all([a, b].map((p) => p.evaluate(() => window.t.userId)));
    let prev = first;
    for (const [who, other] of [
      [a, b],
      [b, a],
    ]) {
      await who.evaluate(() => window.t.optOut());
      await waitFor(() => other.evaluate(() => window.t.optedOut), { what: "the other tab opted out" });
      const out = await ids();
      assert.ok(!out.includes(prev), "the opt-out forgot the anonymous id in both tabs");
      await who.evaluate(() => window.t.optIn());
      await waitFor(() => other.evaluate(() => !window.t.optedOut), { what: "the other tab opted in" });
      const [ia, ib] = await ids();
      assert.equal(ia, ib, "one anonymous id for the site's tabs");
      assert.notEqual(ia, prev, "a new id after the opt-out");
      prev = ia;
      for (const p of [a, b]) await p.evaluate(() => (window.t.track("after_opt_in"), window.t.flush()));
      const sent = collector.events({ app }).filter((e) => e.event_name === "after_opt_in").slice(-2);
      assert.deepEqual(sent.map((e) => e.user_id), [ia, ia]);
      const c = await open(await context.newPage());
      assert.equal(await make(c), ia, "a new tab takes the same stored id");
      await c.close();
    }
  } finally {
    await context.close();
  }
});

test("two trackers of one document: optOut() and optIn() on one reach the other before its next track()", async () => {
  const storageKey = storageKeyOf("same-doc");
  const [appA, appB] = [uniqueApp("same-doc-a"), uniqueApp("same-doc-b")];
  const page = await open();
  try {
    const got = await page.evaluate(
      async ({ appA, appB, storageKey }) => {
        const { CoolaTracker } = window.lib;
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        const a = new CoolaTracker({ appKey: appA, endpoint, flushIntervalMs: 0, storageKey });
        const b = new CoolaTracker({ appKey: appB, endpoint, flushIntervalMs: 0, storageKey });
        b.track("queued_in_b");
        a.optOut();
        // The storage event never reaches the document that wrote: the
        // other tracker hears of the choice once optOut() has returned.
        await null;
        const out = { optedOut: b.optedOut, pending: b.pending, tracked: b.track("after_opt_out") };
        a.optIn();
        await null;
        out.optedIn = !b.optedOut;
        out.id = b.track("after_opt_in");
        await b.flush();
        a.shutdown();
        await b.shutdown();
        return out;
      },
      { appA, appB, storageKey },
    );
    assert.deepEqual(
      { ...got, id: got.id.length },
      { optedOut: true, pending: 0, tracked: "", optedIn: true, id: 36 },
    );
    assert.deepEqual(
      collector.events({ app: appB }).map((e) => e.event_name),
      ["after_opt_in"],
      "nothing b queued before the opt-out, or tracked during it, was sent",
    );
    assert.deepEqual(collector.events({ app: appA }), []);
  } finally {
    await page.context().close();
  }
});

test("Global Privacy Control opts out with privacySignals, unless the saved choice is optIn(); never saved", async () => {
  const app = uniqueApp("gpc");
  const storageKey = storageKeyOf("gpc");
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true, configurable: true });
  });
  const page = await open(await context.newPage());
  try {
    const r = await page.evaluate(
      ({ app, storageKey }) => {
        const { CoolaTracker } = window.lib;
        const base = { appKey: app, endpoint: `${location.origin}/v3/{appKey}/track`, flushIntervalMs: 0, storageKey };
        const gpc = navigator.globalPrivacyControl;
        const off = new CoolaTracker(base).optedOut;
        const on = new CoolaTracker({ ...base, privacySignals: true });
        const onOut = on.optedOut;
        const saved = localStorage.getItem(storageKey + ":consent");
        const givenFalse = new CoolaTracker({ ...base, privacySignals: true, optOut: false }).optedOut;
        on.optIn();
        const afterIn = new CoolaTracker({ ...base, privacySignals: true }).optedOut;
        return { gpc, off, onOut, saved, givenFalse, afterIn };
      },
      { app, storageKey },
    );
    assert.equal(r.gpc, true);
    assert.equal(r.off, false, "signals are ignored unless privacySignals is on");
    assert.equal(r.onOut, true);
    assert.equal(r.saved, null, "a signal is never saved");
    assert.equal(r.givenFalse, true, "optOut: false does not override a signal");
    assert.equal(r.afterIn, false, "an explicit optIn() wins over the signal");
  } finally {
    await context.close();
  }
});

test("sessions: shared by two tabs, kept across a reload, renewed after the gap", async () => {
  const app = uniqueApp("session");
  const storageKey = storageKeyOf("session");
  const context = await browser.newContext();
  const [a, b] = [await open(await context.newPage()), await open(await context.newPage())];
  const run = (page, name, extra = {}) =>
    page.evaluate(
      async ({ app, storageKey, name, extra }) => {
        const { CoolaTracker } = window.lib;
        const endpoint = `${location.origin}/v3/{appKey}/track`;
        window.t ??= new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, storageKey, ...extra });
        window.t.track(name);
        await window.t.flush();
        await new Promise((r) => setTimeout(r, 0)); // the end-of-task persist writes the session
        return window.t.sessionId;
      },
      { app, storageKey, name, extra },
    );
  try {
    const s1 = await run(a, "a1");
    assert.match(s1, /^[0-9a-f-]{36}$/);
    assert.equal(await run(b, "b1"), s1, "the second tab joins the session");
    await a.reload();
    assert.equal((await pageResult(a)).ok, true);
    assert.equal(await run(a, "a2"), s1, "a reload keeps the session");
    const events = collector.events({ app });
    assert.deepEqual(events.map((e) => e.session_id), [s1, s1, s1]);
    assert.equal(await a.evaluate((k) => localStorage.getItem(k + ":session").split(":")[0], storageKey), s1);
    // A short timeout: a gap longer than it starts a new session.
    await a.reload();
    assert.equal((await pageResult(a)).ok, true);
    const short = { sessionTimeoutMs: 300, storageKey: storageKey + "-short" };
    const first = await run(a, "s1", short);
    await sleep(500);
    const second = await run(a, "s2", short);
    assert.notEqual(first, second, "renewed after the gap");
    // Sessions off: no session_id.
    await a.reload();
    assert.equal((await pageResult(a)).ok, true);
    assert.equal(await run(a, "none", { sessionTimeoutMs: 0 }), "");
    assert.equal(collector.events({ app }).find((e) => e.event_name === "none").session_id, undefined);
  } finally {
    await context.close();
  }
});

test('"history" page views follow in-page navigation; shutdown() restores pushState only if still ours', async () => {
  const app = uniqueApp("history");
  const page = await open();
  try {
    const r = await page.evaluate(async (app) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const origPush = history.pushState;
      const origReplace = history.replaceState;
      const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, autoPageViews: "history", persist: false });
      const wrapped = history.pushState !== origPush;
      history.pushState({}, "", "/app.html?step=2");
      history.replaceState({}, "", "/app.html?step=2"); // same URL: no page view
      location.hash = "#part";
      await new Promise((r) => setTimeout(r, 50)); // hashchange is async
      const explicit = t.trackPageView({ section: "docs" });
      await t.shutdown();
      const restored = history.pushState === origPush && history.replaceState === origReplace;
      history.pushState({}, "", "/app.html?after=shutdown");
      // Another library wraps pushState after ours: its wrapper stays.
      const t2 = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, autoPageViews: "history", persist: false });
      const ours = history.pushState;
      const theirs = function (...args) {
        return ours.apply(this, args);
      };
      history.pushState = theirs;
      await t2.shutdown();
      const leftAlone = history.pushState === theirs;
      history.pushState({}, "", "/app.html?after=theirs");
      await new Promise((r) => setTimeout(r, 50));
      // free() undoes it too.
      history.pushState = origPush;
      const t3 = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, autoPageViews: "history", persist: false });
      const hooked = history.pushState !== origPush;
      t3.free();
      const freed = hooked && history.pushState === origPush && history.replaceState === origReplace;
      return { wrapped, restored, leftAlone, freed, explicit, origin: location.origin };
    }, app);
    assert.equal(r.wrapped, true);
    assert.equal(r.restored, true, "pushState and replaceState as they were");
    assert.equal(r.leftAlone, true, "a later wrapper is left in place");
    assert.equal(r.freed, true, "free() restores them too");
    const views = collector.events({ app }).filter((e) => e.event_name === "page_view");
    const base = `${r.origin}/app.html`;
    assert.deepEqual(
      views.map((e) => [e.page_url, e.referring_url ?? ""]),
      [
        [base, ""],
        [`${base}?step=2`, base],
        [`${base}?step=2#part`, `${base}?step=2`],
        [`${base}?step=2#part`, ""],
        [`${base}?after=shutdown`, ""],
      ],
      "start, pushState, hashchange, the explicit one, t2's start; none after shutdown",
    );
    assert.equal(views[3].section, "docs");
    assert.equal(views[3].event_id, r.explicit);
    assert.ok(views.every((e) => e.page_title === "coola-tracker security page"));
  } finally {
    await page.context().close();
  }
});

test("beforeSend: unchanged, changed in place, replaced, dropped with null or false, throwing, invalid", async () => {
  const app = uniqueApp("hook");
  const page = await open();
  try {
    const r = await page.evaluate(async (app) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const seen = [];
      const boom = new Error("hook bug");
      const t = new CoolaTracker({
        appKey: app,
        endpoint,
        flushIntervalMs: 0,
        persist: false,
        beforeSend(e) {
          seen.push(e.event_name);
          switch (e.event_name) {
            case "in_place":
              e.added = "yes";
              delete e.secret;
              return undefined;
            case "replaced":
              return { ...e, event_name: "renamed", added: 2 };
            case "dropped_null":
              return null;
            case "dropped_false":
              return false;
            case "throws":
              throw boom;
            case "invalid":
              return { ...e, cart: { a: 1 } };
            case "number":
              return 0;
            case "array":
              return [e];
            case "async":
              return Promise.resolve(e);
            case "reenter":
              try {
                t.track("inner");
              } catch (err) {
                e.reentry = err.code;
              }
              return e;
            default:
              return e;
          }
        },
      });
      const ids = {};
      const errors = {};
      for (const name of ["unchanged", "in_place", "replaced", "dropped_null", "dropped_false", "throws", "invalid", "number", "array", "async", "reenter"]) {
        try {
          ids[name] = t.track(name, { secret: "s" });
        } catch (e) {
          errors[name] = { code: e.code, field: e.field, causeIsBoom: e.cause === boom, isError: e instanceof Error, message: e.message };
        }
      }
      await t.flush();
      return { seen, ids, errors, pending: t.pending };
    }, app);
    assert.deepEqual(r.seen, ["unchanged", "in_place", "replaced", "dropped_null", "dropped_false", "throws", "invalid", "number", "array", "async", "reenter"]);
    assert.equal(r.ids.dropped_null, "");
    assert.equal(r.ids.dropped_false, "");
    assert.deepEqual(r.errors.throws, { code: "before_send_failed", field: undefined, causeIsBoom: true, isError: true, message: "beforeSend threw (nothing was queued): hook bug" });
    // What is not an event: invalid_value, saying it came from beforeSend and what it may return.
    for (const [name, what] of [["number", "a number"], ["array", "an array"], ["async", "a Promise"]]) {
      assert.equal(r.errors[name].code, "invalid_value", name);
      assert.equal(r.errors[name].message, `the properties must be an object, not ${what} from beforeSend: return the event, null, false or undefined`, name);
    }
    assert.equal(r.errors.invalid.code, "nested_property");
    assert.equal(r.errors.invalid.field, "cart");
    const got = Object.fromEntries(collector.events({ app }).map((e) => [e.event_name, e]));
    assert.deepEqual(Object.keys(got).sort(), ["in_place", "reenter", "renamed", "unchanged"]);
    assert.equal(got.unchanged.secret, "s");
    assert.equal(got.unchanged.event_id, r.ids.unchanged);
    assert.equal(got.in_place.added, "yes");
    assert.equal(got.in_place.secret, undefined);
    assert.equal(got.renamed.added, 2);
    assert.equal(got.renamed.event_id, r.ids.replaced);
    assert.equal(got.reenter.reentry, "invalid_value", "track() from inside beforeSend is refused");
    assert.equal(r.pending, 0);
  } finally {
    await page.context().close();
  }
});

test("shared properties: option and setProperties, validated, an event's own win, null removes one", async () => {
  const app = uniqueApp("props");
  const page = await open();
  try {
    const r = await page.evaluate(async (app) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const codes = [];
      const storageKey = "bad-props-" + Date.now();
      for (const bad of [{ cart: { a: 1 } }, { uid: "x" }, "plan"]) {
        try {
          new CoolaTracker({ appKey: app, endpoint, storageKey, properties: bad });
        } catch (e) {
          codes.push(`${e.code}:${e.field}`);
        }
      }
      const left = Object.keys(localStorage).filter((k) => k.startsWith(storageKey));
      if (left.length) codes.push(`left in storage: ${left}`);
      const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, persist: false, properties: { plan: "pro", seats: 3 } });
      t.track("one");
      t.setProperties({ seats: null, beta: true });
      t.track("two", { plan: "own" });
      for (const bad of [{ tags: ["a"] }, { internal_session_id: "x" }, { ok: 1, n: NaN }]) {
        try {
          t.setProperties(bad);
        } catch (e) {
          codes.push(`${e.code}:${e.field}`);
        }
      }
      t.track("three");
      await t.flush();
      return codes;
    }, app);
    assert.deepEqual(r, [
      "invalid_option:properties",
      "invalid_option:properties",
      "invalid_option:properties",
      "nested_property:tags",
      "reserved_property:internal_session_id",
      "invalid_value:n",
    ]);
    const got = Object.fromEntries(collector.events({ app }).map((e) => [e.event_name, e]));
    assert.equal(got.one.plan, "pro");
    assert.equal(got.one.seats, 3);
    assert.equal(got.two.plan, "own", "the event's own property wins");
    assert.equal(got.two.seats, undefined, "null removes one");
    assert.equal(got.two.beta, "true");
    assert.equal(got.three.plan, "pro");
    assert.equal(got.three.ok, undefined, "a call that threw changed nothing");
  } finally {
    await page.context().close();
  }
});

test("sampleRate keeps a share of users, whole, and marks their events", async () => {
  const app = uniqueApp("sample");
  const page = await open();
  try {
    const r = await page.evaluate(async (app) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, persist: false, sampleRate: 0.3 });
      const kept = new Set();
      let dropped = 0;
      let threw = null;
      for (let u = 0; u < 400; u++) {
        t.setUserId(`user-${u}`);
        const a = t.track("a");
        const b = t.track("b");
        if ((a === "") !== (b === "")) throw new Error("a user was split");
        if (a) kept.add(`user-${u}`);
        else dropped += 2;
        if (!a && threw === null) {
          try {
            t.track("bad", { x: { y: 1 } });
          } catch (e) {
            threw = e.code;
          }
        }
      }
      await t.flush();
      return { kept: [...kept], dropped, threw };
    }, app);
    const share = r.kept.length / 400;
    assert.ok(Math.abs(share - 0.3) < 0.08, `kept share ${share}`);
    assert.equal(r.threw, "nested_property", "dropped events are still validated");
    const events = collector.events({ app });
    assert.equal(events.length, r.kept.length * 2);
    assert.ok(events.every((e) => e.sample_rate === 0.3 && r.kept.includes(e.user_id)));
  } finally {
    await page.context().close();
  }
});

test("debug: console.debug for each queued event, request and answer, never the app key", async () => {
  const app = uniqueApp("debug");
  const page = await open();
  try {
    const lines = await page.evaluate(async (app) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, persist: false, debug: true, properties: { plan: "pro" }, sampleRate: 0.999999 });
      t.track("shown", { n: 1 });
      await t.flush();
      const quiet = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, persist: false });
      quiet.track("quiet");
      await quiet.flush();
      return window.__console.filter((l) => l.includes("[coola-tracker]"));
    }, app);
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.match(lines[0], /^debug: \[coola-tracker\] queued .*"event_name":"shown"/);
    // The complete event as it will be sent, not only its own properties.
    const shown = JSON.parse(lines[0].slice(lines[0].indexOf("{")));
    for (const k of ["event_id", "event_timestamp_epoch", "user_id", "session_id", "page_url", "page_title", "session_dua", "tracker_type"]) {
      assert.ok(k in shown, `${k} in the queued line: ${lines[0]}`);
    }
    assert.equal(shown.plan, "pro", "shared properties too");
    assert.equal(shown.sample_rate, 0.999999);
    assert.match(lines[1], /^debug: \[coola-tracker\] request 1: 1 event\(s\) to http:\/\/127\.0\.0\.1:\d+\/v3\/\{appKey\}\/track$/);
    assert.match(lines[2], /^debug: \[coola-tracker\] answer 1: HTTP 200$/);
    assert.ok(lines.every((l) => !l.includes(SECRET)), "the app key is in no debug line");
  } finally {
    await page.context().close();
  }
});

test("debug: an event the full queue drops at once gets no queued line of another event", async () => {
  // maxQueueSize 1 with its one event in flight: the next event is dropped
  // at once (queue_full); its line must not show the event in flight.
  const app = uniqueApp("debug-full");
  const page = await open();
  try {
    const r = await page.evaluate(async (app) => {
      const { CoolaTracker } = window.lib;
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const errors = [];
      const t = new CoolaTracker({ appKey: app, endpoint, flushIntervalMs: 0, persist: false, debug: true, batchSize: 1, maxQueueSize: 1, onError: (e) => errors.push(e.code) });
      const a = t.track("first");
      t.track("second");
      await t.shutdown();
      return { a, errors, lines: window.__console.filter((l) => l.includes("] queued")) };
    }, app);
    assert.deepEqual(r.errors, ["queue_full"]);
    assert.equal(r.lines.length, 1, r.lines.join("\n"));
    assert.ok(r.lines[0].includes(r.a), "the one queued line is the first event's");
  } finally {
    await page.context().close();
  }
});

test("outside a page (Node): trackPageView throws invalid_value, no sessions by default", async () => {
  const { createRequire } = await import("node:module");
  const { CoolaTracker } = createRequire(import.meta.url)("../../pkg/node/coola_tracker.js");
  const app = uniqueApp("node");
  const t = new CoolaTracker({ appKey: app, endpoint: `${collector.url}/v3/{appKey}/track`, flushIntervalMs: 0 });
  assert.throws(() => t.trackPageView(), (e) => e.code === "invalid_value");
  assert.equal(t.track("x").length, 36);
  assert.equal(t.sessionId, "");
  await t.shutdown();
  assert.equal(collector.events({ app })[0].session_id, undefined);
});
