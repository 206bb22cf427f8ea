// Delivery end to end through the example of www/edge, run from its own
// wrangler.toml (bindings, queues, consumer settings, static assets): the
// browser tracker in headless Chromium posting to the Worker with
// endpoint "/collect", then many concurrent simulated pages. Every event
// reaches the local collector (as CoolaData) once.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium, newPage } from "../package/helpers.mjs";
import { APP, edgeProject, nodeBuild, simulatePages, startCollector, startExample, waitFor } from "./helpers.mjs";

let app;
let collector;
let example;
let build;

before(async () => {
  [app, collector] = await Promise.all([edgeProject(), startCollector({ port: 0 })]);
  // The example's max_batch_timeout (5 s) is for production; shorter here.
  [example, build] = await Promise.all([startExample(app, collector, { consumer: { maxBatchTimeout: 0.5 } }), nodeBuild(app)]);
});

after(async () => {
  await example?.mf.dispose();
  await collector?.close();
  app?.remove();
});

const delivered = (ids, what) =>
  waitFor(
    () => {
      const have = new Set(collector.events({ app: APP }).map((e) => e.event_id));
      return ids.every((id) => have.has(id));
    },
    { timeout: 60_000, what },
  );

test('the example page tracks through its own /collect: endpoint "/collect", no app key in the page', async () => {
  collector.reset();
  const browser = await chromium();
  try {
    const page = await newPage(browser);
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    const origin = example.url.origin;
    const res = await page.goto(example.url.href);
    assert.ok(!(await res.text()).includes(APP), "no app key in the page");
    await page.waitForFunction(() => window.tracker, null, { timeout: 10_000 });
    await page.click("#buy");
    const report = await page.evaluate(() => window.tracker.flush());
    assert.equal(report.failed, 0, page.consoleLines.join("\n"));
    assert.equal(await page.evaluate(() => window.tracker.pending), 0, "both acknowledged by the Worker");
    const events = await waitFor(() => {
      const e = collector.events({ app: APP });
      return e.length >= 2 && e;
    }, { timeout: 30_000, what: "page_view and purchase" });
    assert.deepEqual(events.map((e) => e.event_name).sort(), ["page_view", "purchase"]);
    const ua = await page.evaluate(() => navigator.userAgent);
    for (const e of events) {
      assert.equal(e.session_dua, ua);
      assert.equal(typeof e.session_ip, "string");
      assert.equal(e.page_url, example.url.href);
    }
    assert.equal(events.find((e) => e.event_name === "purchase").price, 9.99);
    const foreign = requests.filter((u) => !u.startsWith(origin));
    assert.deepEqual(foreign, [], "first-party only");
    assert.ok(requests.includes(`${origin}/collect`), requests.join("\n"));
  } finally {
    await browser.close();
  }
});

test("outside a page, a path endpoint is refused at construction", () => {
  assert.throws(() => new build.CoolaTracker({ endpoint: "/collect" }), (e) => e.code === "invalid_option" && e.field === "endpoint");
});

test("50 concurrent simulated pages: every event delivered once", async () => {
  collector.reset();
  const { ids, reports } = await simulatePages(build, `${example.url.origin}/collect`, { pages: 50, events: 40, batchSize: 10 });
  assert.equal(ids.length, 2000);
  assert.equal(reports.reduce((n, r) => n + r.failed, 0), 0, "no page request failed");
  await delivered(ids, "2000 events");
  const got = collector.events({ app: APP });
  assert.equal(got.length, 2000);
  assert.equal(collector.stats().duplicates, 0);
  const requests = collector.requests();
  assert.ok(requests.every((r) => r.events <= 300));
  assert.ok(requests.length < 200, `${requests.length} CoolaData requests for 200 page requests`);
});
