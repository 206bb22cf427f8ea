// Storage left behind: after 20 page loads of a site the tracker holds no
// key of a page that is gone. A page removes its heartbeat when it goes away
// (pagehide); the next tracker removes the heartbeats of its app's tabs that
// died without one (a crash: a heartbeat older than 3 minutes, or "0" as
// earlier releases wrote), whether or not they left events to claim.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FIXTURES, chromium, newPage, project, startCollector, waitFor } from "./helpers.mjs";

let app;
let collector;
let browser;

before(async () => {
  app = await project();
  [collector, browser] = await Promise.all([
    startCollector({ port: 0, static: join(FIXTURES, "pages"), mounts: { "/pkg": app.pkgDir } }),
    chromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await collector?.close();
  app?.remove();
});

const coolaKeys = (page) =>
  page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("coola:")).sort());

test("20 page loads leave no key of a gone page behind", async () => {
  const key = "keys-20";
  const page = await newPage(browser);
  try {
    const load = async (i) => {
      await page.goto(`${collector.url}/unload.html?app=${key}&n=2&then=stay&interval=100&load=${i}`);
      // A document left before its load event never gets pagehide (HTML's
      // "page showing" flag): its heartbeat would stay until it is stale (3
      // minutes), when the next tracker removes it. Here each page loads.
      await page.waitForFunction(() => window.tracked && document.readyState === "complete", null, {
        timeout: 10_000,
      });
    };
    for (let i = 0; i < 20; i++) {
      await load(i);
      const beats = (await coolaKeys(page)).filter((k) => k.startsWith("coola:tab:"));
      assert.equal(beats.length, 1, `load ${i + 1}: only the live page's heartbeat (${beats.join(", ")})`);
    }
    await waitFor(() => collector.events({ app: key }).length >= 40, { what: "the 40 events" });
    // The collector has them; the page removes their keys when it has read
    // the acknowledgement, which can come a moment later.
    await page.waitForFunction(() => !Object.keys(localStorage).some((k) => k.startsWith("coola:q:")), null, {
      timeout: 10_000,
    });
    await page.goto(`${collector.url}/next.html`); // the last tracker's page goes away too
    // What stays is the site's, not a page's: the anonymous id and the session.
    assert.deepEqual(await coolaKeys(page), ["coola:session", "coola:user_id"]);
  } finally {
    await page.context().close();
  }
});

test("the next tracker removes the heartbeats of tabs that died without a page hide", async () => {
  const key = "keys-crashed";
  const page = await newPage(browser);
  try {
    const url = `${collector.url}/unload.html?app=${key}&n=0&then=stay`;
    await page.goto(url);
    await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    const [own] = (await coolaKeys(page)).filter((k) => k.startsWith("coola:tab:"));
    const appHash = own.slice("coola:tab:".length).split(".")[0];
    const other = appHash === "ffffffff" ? "eeeeeeee" : "ffffffff";
    const planted = await page.evaluate(
      ({ appHash, other }) => {
        const now = Date.now();
        const keys = {
          stale: [`coola:tab:${appHash}.crashed0001`, String(now - 200_000)],
          zero: [`coola:tab:${appHash}.crashed0002`, "0"],
          alive: [`coola:tab:${appHash}.alive0001`, String(now)],
          otherApp: [`coola:tab:${other}.crashed0003`, "0"],
        };
        for (const [k, v] of Object.values(keys)) localStorage.setItem(k, v);
        return Object.fromEntries(Object.entries(keys).map(([name, [k]]) => [name, k]));
      },
      { appHash, other },
    );
    await page.goto(url);
    await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    const keys = await coolaKeys(page);
    assert.ok(!keys.includes(planted.stale), "a heartbeat older than 3 minutes is removed");
    assert.ok(!keys.includes(planted.zero), "a heartbeat of 0 is removed");
    assert.ok(!keys.includes(own), "the previous page removed its own");
    assert.ok(keys.includes(planted.alive), "a live tab's heartbeat stays");
    assert.ok(keys.includes(planted.otherApp), "another app's keys are its own tracker's business");
  } finally {
    await page.context().close();
  }
});

test("a heartbeat is whole milliseconds even where Date.now() has a fraction", async () => {
  // A page, harness or polyfill may make Date.now() return a fraction
  // (performance.timeOrigin + performance.now()): other tabs read the
  // heartbeat as digits, and would take "1764…123.5" for a gone tab and
  // claim its events.
  const key = "keys-fraction";
  const page = await newPage(browser);
  try {
    await page.addInitScript(() => {
      const now = Date.now;
      Date.now = () => now() + 0.5;
    });
    await page.goto(`${collector.url}/unload.html?app=${key}&n=0&then=stay`);
    await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    const beats = await page.evaluate(() =>
      Object.keys(localStorage)
        .filter((k) => k.startsWith("coola:tab:"))
        .map((k) => localStorage.getItem(k)),
    );
    assert.equal(beats.length, 1, "one heartbeat");
    assert.match(beats[0], /^\d{13}$/, "the heartbeat is whole epoch milliseconds");
  } finally {
    await page.context().close();
  }
});

test("the heartbeat: at most one write per 10 s, gone after pagehide whatever answers come late, back when the page is shown again", async () => {
  // Other tabs claim the events of a tab whose heartbeat is gone. A page put
  // in the back/forward cache (pagehide) removes it; an answer to a request
  // that comes later must not write it again (the next page load is to claim
  // what is left), and the page shown again (pageshow) is alive again.
  const key = "keys-bfcache";
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/unload.html?app=${key}&n=0&then=stay`);
    await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    const beat = () =>
      page.evaluate(() => {
        const k = Object.keys(localStorage).filter((x) => x.startsWith("coola:tab:"));
        return k.length === 1 ? localStorage.getItem(k[0]) : k.length === 0 ? null : `${k.length} keys`;
      });
    const first = await beat();
    assert.match(first ?? "", /^\d{13}$/, "the tab's heartbeat, whole ms");
    // An event sent and acknowledged within 10 s: storage is written (the
    // event, then its removal), the heartbeat is not.
    const sendOne = (i) =>
      page.evaluate(async (i) => {
        await new Promise((r) => setTimeout(r, 20));
        window.tracker.track("beat", { i });
        return (await window.tracker.flush()).sent;
      }, i);
    assert.equal(await sendOne(1), 1, "the event was acknowledged");
    assert.equal(await beat(), first, "no second heartbeat write within 10 s");
    // Into the back/forward cache: the heartbeat goes, and a request answered
    // afterwards does not bring it back.
    await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })));
    assert.equal(await beat(), null, "pagehide removes the heartbeat");
    assert.equal(await sendOne(2), 1, "a request after pagehide was acknowledged");
    assert.equal(await beat(), null, "a late answer does not write the heartbeat again");
    // Shown again: alive, with a fresh time.
    await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })));
    const back = await beat();
    assert.match(back ?? "", /^\d{13}$/, "pageshow writes the heartbeat again");
    assert.ok(Number(back) > Number(first), "with the time now, later than the first");
    await waitFor(() => collector.events({ app: key }).filter((e) => e.event_name === "beat").length >= 2, {
      what: "both events",
    });
  } finally {
    await page.context().close();
  }
});

test("shutdown() and free() remove the tab's heartbeat and keep its stored events for the next tracker to claim", async () => {
  // A tracker that shut down or was freed no longer keeps its tab alive:
  // its heartbeat goes (as at pagehide), so that the next tracker, in this
  // page or another tab, claims its stored events at once rather than
  // after 3 minutes; the events stay stored, those free() was given in the
  // task that tracked them too.
  const key = "keys-leave";
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/next.html`);
    // The shutdown's request fails; so does the one the next tracker
    // sends of what it claimed (it is freed before the answer comes).
    await collector.control({ failNext: [{ status: 503 }, { status: 503 }] });
    const r = await page.evaluate(async (key) => {
      const { default: init, CoolaTracker } = await import("/pkg/web/coola_tracker.js");
      await init();
      const keys = (p) => Object.keys(localStorage).filter((k) => k.startsWith(p)).sort();
      const endpoint = `${location.origin}/v3/{appKey}/track`;
      const out = {};
      const a = new CoolaTracker({ appKey: key, endpoint, flushIntervalMs: 0 });
      a.track("kept");
      out.report = await a.shutdown(); // a page's shutdown settles at the first failure
      out.afterShutdown = { tabs: keys("coola:tab:"), queued: keys("coola:q:").length };
      const f = new CoolaTracker({ appKey: key, endpoint, flushIntervalMs: 0 });
      out.claimed = f.pending;
      f.track("late");
      f.free(); // in the task that tracked it
      out.afterFree = { tabs: keys("coola:tab:"), queued: keys("coola:q:").length };
      const n = new CoolaTracker({ appKey: key, endpoint, flushIntervalMs: 0 });
      out.next = n.pending;
      out.flushed = await n.flush();
      return out;
    }, key);
    // The shutdown's request failed (503): the event is kept for a retry, not given up on.
    assert.deepEqual(r.report, { sent: 0, failed: 0, pending: 1, requests: 1 });
    assert.deepEqual(r.afterShutdown, { tabs: [], queued: 1 }, "shutdown(): no heartbeat, the event stays stored");
    assert.equal(r.claimed, 1, "the next tracker claims it at once");
    assert.deepEqual(r.afterFree.tabs, [], "free(): no heartbeat");
    assert.ok(r.afterFree.queued >= 2, `free(): the events stay stored (${r.afterFree.queued})`);
    assert.equal(r.next, 2, "the next tracker claims both");
    await waitFor(() => collector.events({ app: key }).length >= 2, { what: "both events" });
    assert.deepEqual([...new Set(collector.events({ app: key }).map((e) => e.event_name))].sort(), ["kept", "late"]);
  } finally {
    await page.context().close();
  }
});
