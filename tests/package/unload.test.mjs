// Page unload: a plain page (served by the collector, importing
// /pkg/web/coola_tracker.js of the installed package) tracks events with a
// 60 s flush interval, then goes away at once. The tracker sends on pagehide
// with keepalive fetch: the collector must receive every event, once, and
// the next page of the site must not send them again.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FIXTURES, chromium, newPage, project, startCollector, waitFor } from "./helpers.mjs";
import { join } from "node:path";

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

async function delivered(appKey, n) {
  const events = await waitFor(
    () => {
      const e = collector.events({ app: appKey });
      return e.length >= n && e;
    },
    { timeout: 10_000, what: `${n} events of ${appKey} (got ${collector.events({ app: appKey }).length})` },
  );
  assert.equal(events.length, n, "no event twice");
  assert.deepEqual(events.map((e) => e.i).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  return events;
}

test("navigating away at once: every event arrives (pagehide, keepalive)", async () => {
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/unload.html?app=unload-nav&n=40&then=navigate`);
    await page.waitForURL(/\/next\.html$/, { timeout: 10_000 });
    assert.equal(await page.textContent("#next"), "the next page");
    await delivered("unload-nav", 40);
  } finally {
    await page.context().close();
  }
});

test("closing the tab right after tracking: every event arrives", async () => {
  const page = await newPage(browser);
  await page.goto(`${collector.url}/unload.html?app=unload-close&n=25&then=stay`);
  const tracked = await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 }).then((h) => h.jsonValue());
  assert.equal(tracked.pending, 25);
  assert.equal(collector.events({ app: "unload-close" }).length, 0, "nothing sent before the page goes away");
  await page.close({ runBeforeUnload: true });
  try {
    await delivered("unload-close", 25);
  } finally {
    await page.context().close();
  }
});

// At-least-once, by design: an event leaves the durable queue only when a
// response acknowledged it, and the unloading page is gone before the answer
// to its keepalive request arrives. So the next page of the site claims the
// unload batch and sends it again, with the same event_ids, and a collector
// that de-duplicates by event_id (as the local one does) keeps each once.
test("the next page re-sends the unload batch with the same event_ids: nothing lost, no new ids", async () => {
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/unload.html?app=unload-dup&n=10&then=navigate`);
    await page.waitForURL(/\/next\.html$/, { timeout: 10_000 });
    await delivered("unload-dup", 10);
    const before = collector.stats().duplicates;
    const next = await page.context().newPage(); // another tab of the site, same storage
    await next.goto(`${collector.url}/unload.html?app=unload-dup&n=0&then=stay&interval=500`);
    await next.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 3000)); // a few flush intervals
    const resent = collector.stats().duplicates - before;
    assert.ok(resent <= 10, `at most the unload batch is re-sent (${resent})`);
    assert.equal(collector.events({ app: "unload-dup" }).length, 10, "every event kept once, by event_id");
  } finally {
    await page.context().close();
  }
});

test("a tracker the page keeps no reference to still sends when the page goes away", async () => {
  // Garbage collection must not stop a tracker (its timer, its page-hide
  // send): it lives until shutdown() or free(), like a timer.
  const gcBrowser = await chromium(["--js-flags=--expose-gc"]);
  try {
    const page = await newPage(gcBrowser);
    await page.goto(`${collector.url}/left.html?app=unload-left&n=5`);
    const tracked = await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 }).then((h) => h.jsonValue());
    assert.equal(tracked.gc, true, "the page could collect garbage");
    assert.equal(collector.events({ app: "unload-left" }).length, 0, "nothing sent before the page goes away");
    await page.goto(`${collector.url}/next.html`); // no tracker there: only the first page can send them
    await delivered("unload-left", 5);
    await page.context().close();
  } finally {
    await gcBrowser.close();
  }
});

test("a page's fetch wrapper that tracks finds the tracker free during the page-hide send", async () => {
  // Monitoring scripts wrap fetch and report each request. The page-hide
  // send must call fetch with no borrow of the tracker held, or the
  // wrapper's track() throws "the tracker was called from inside itself".
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/unload.html?app=unload-wrapped&n=6&then=stay&wrap=1`);
    await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    const seen = await page.evaluate(() => {
      window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: false }));
      return { ...window.seen, pending: window.tracker.pending };
    });
    assert.ok(seen.requests >= 1, "the page-hide send went through the page's fetch");
    assert.deepEqual(seen.errors, [], "track() inside the wrapper did not throw");
    assert.ok(seen.pending >= 6 + seen.requests, "the wrapper's events are queued, the sent ones not yet acknowledged");
    const steps = await waitFor(
      () => {
        const e = collector.events({ app: "unload-wrapped" }).filter((x) => x.event_name === "step");
        return e.length >= 6 && e;
      },
      { timeout: 10_000, what: "the 6 events sent on page hide" },
    );
    assert.deepEqual(steps.map((e) => e.i).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
  } finally {
    await page.context().close();
  }
});

test("a page's console.debug and localStorage wrappers that track find the tracker free", async () => {
  // Monitoring scripts wrap console.debug (written by `debug: true`) and
  // Storage.prototype.setItem / getItem. The tracker must call them with no
  // borrow of its state held: the queued line, the session read and the
  // end-of-task writes, the request and answer lines, optIn()'s id write.
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/unload.html?app=unload-wrapped2&n=5&then=stay&wrap=2`);
    await page.waitForFunction(() => window.tracked, null, { timeout: 10_000 });
    const seen = await page.evaluate(async () => {
      const t = window.tracker;
      const drain = async () => {
        // Each round's request and answer lines track more (up to the page's cap).
        for (let k = 0; k < 200 && t.pending; k++) await t.flush();
      };
      await new Promise((r) => setTimeout(r, 0)); // the end-of-task writes
      await drain();
      const before = { ...window.seen };
      t.optOut();
      t.optIn(); // writes the new anonymous id
      await drain();
      return { before, ...window.seen, pending: t.pending };
    });
    assert.deepEqual(seen.errors, [], "track() inside the wrappers did not throw");
    assert.ok(seen.before.debug >= 5, `console.debug wrapped (${seen.before.debug} lines)`);
    assert.ok(seen.before.getItem >= 1, "localStorage.getItem wrapped");
    assert.ok(seen.before.setItem >= 1, "localStorage.setItem wrapped");
    assert.ok(seen.setItem > seen.before.setItem, "optIn() wrote through the wrapper");
    assert.equal(seen.pending, 0);
    const got = await waitFor(
      () => {
        const e = collector.events({ app: "unload-wrapped2" });
        return e.length >= 5 + seen.kept.length && e;
      },
      { timeout: 10_000, what: `${5 + seen.kept.length} events of unload-wrapped2` },
    );
    const ids = (name) => got.filter((e) => e.event_name === name).map((e) => e.i).sort((a, b) => a - b);
    assert.deepEqual(ids("step"), [0, 1, 2, 3, 4]);
    assert.ok(seen.kept.length > 5, `the wrappers' events were queued (${seen.kept.length})`);
    assert.deepEqual(ids("wrapped"), seen.kept);
    assert.equal(got.length, 5 + seen.kept.length, "no event twice");
  } finally {
    await page.context().close();
  }
});
