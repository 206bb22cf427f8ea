// The collector Worker under tests/soak's fault profile at CoolaData's end:
// 30 % of requests answered 500, 10 % 429 with Retry-After, 5 % of
// connections dropped after the collector accepted (stored, never answered).
// A browser page (the example's, endpoint "/collect") and concurrent
// simulated pages track through it: no event lost, no event nobody tracked,
// copies only of the same event_id (the collector keeps one per event_id),
// nothing dead-lettered. (The fixture caps the consumer's backoff at 4 s,
// retryMaxSeconds, so that the retries of a run take seconds, not minutes.)

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FAILURES } from "../soak/soak.mjs";
import { chromium, newPage } from "../package/helpers.mjs";
import { APP, edgeProject, nodeBuild, simulatePages, startCollector, startFixture, waitFor } from "./helpers.mjs";

let app;
let collector;
let edge;
let build;

before(async () => {
  [app, collector] = await Promise.all([edgeProject(), startCollector({ port: 0 })]);
  [edge, build] = await Promise.all([
    // Small consumer batches: many CoolaData requests, so every fault shows up.
    startFixture(app, collector, { assets: join(app.dir, "example", "public"), consumer: { maxBatchSize: 5, maxRetries: 100 } }),
    nodeBuild(app),
  ]);
});

after(async () => {
  await edge?.mf.dispose();
  await collector?.close();
  app?.remove();
});

test("soak fault profile: a browser page and 20 simulated pages, 0 lost, duplicates only as the same event_id", { timeout: 180_000 }, async (t) => {
  collector.reset();
  const profile = { ...FAILURES, drop: 0, dropStored: FAILURES.drop, seed: 21 };
  collector.control(profile);
  const browser = await chromium();
  let browserIds;
  let pages;
  try {
    const page = await newPage(browser);
    await page.goto(edge.url.href);
    await page.waitForFunction(() => window.tracker, null, { timeout: 10_000 });
    [browserIds, pages] = await Promise.all([
      page.evaluate(async () => {
        const ids = [window.tracker.track("page_view_again")];
        for (let i = 0; i < 150; i++) ids.push(window.tracker.track("scroll", { depth: i }));
        for (let i = 0; i < 50 && window.tracker.pending > 0; i++) await window.tracker.flush();
        return ids;
      }),
      simulatePages(build, `${edge.url.origin}/collect`, { pages: 20, events: 50, batchSize: 10 }),
    ]);
  } finally {
    await browser.close();
  }
  const tracked = new Set([...browserIds, ...pages.ids]);
  assert.equal(tracked.size, 151 + 1000);
  // Everything tracked here, and the page_view the example page tracks on load.
  await waitFor(
    () => {
      const have = new Set(collector.events({ app: APP }).map((e) => e.event_id));
      return have.size >= tracked.size + 1 && [...tracked].every((id) => have.has(id));
    },
    { timeout: 150_000, interval: 250, what: "every tracked event at the collector" },
  );
  const got = collector.events({ app: APP });
  const ids = got.map((e) => e.event_id);
  const stats = collector.stats();
  const lost = [...tracked].filter((id) => !ids.includes(id)).length;
  t.diagnostic(
    `tracked ${tracked.size} (+1 page_view), delivered ${new Set(ids).size}, lost ${lost}, duplicates ${stats.duplicates}, ` +
      `CoolaData requests ${stats.requests} (500: ${stats.failed_injected[500]}, 429: ${stats.failed_injected[429]}, ` +
      `stored then dropped: ${stats.failed_injected.dropStored ?? 0})`,
  );
  assert.equal(lost, 0, "lost");
  assert.equal(new Set(ids).size, ids.length, "the collector keeps one copy per event_id");
  const others = got.filter((e) => !tracked.has(e.event_id));
  assert.deepEqual(others.map((e) => e.event_name), ["page_view"], "only the page's own page_view besides what was tracked here");
  const faults = stats.failed_injected[500] + stats.failed_injected[429] + (stats.failed_injected.dropStored ?? 0);
  assert.ok(faults > 0, "the faults happened");
  assert.deepEqual(await edge.deadLetters(), [], "nothing refused, nothing dead-lettered");
});
