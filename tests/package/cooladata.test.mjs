// The cooladata drop-in: a page with CoolaData's own snippet, its script URL
// swapped for coola-tracker's (the classic script web/cooladata.global.js,
// or the ES module cooladata.js), keeps its calls: init with app_key,
// api_host, user_id, session_id, track_pageload; trackEvent with a callback;
// trackEventLater (queued, sent by flush); setConfig; and the calls made
// before the script had loaded. Events go to /v1/{app_key}/track.

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

const names = (events) => events.map((e) => e.event_name).sort();

for (const loader of ["classic", "module"]) {
  test(`${loader} script in place of CoolaData's: the snippet's calls deliver their events`, async () => {
    const key = `cd-${loader}`;
    const page = await newPage(browser);
    try {
      await page.goto(`${collector.url}/snippet.html?loader=${loader}&app=${key}`);
      // trackEvent's callback: called once its batch was acknowledged.
      await page.waitForFunction(() => window.acked.length > 0, null, { timeout: 10_000 }).catch(() => {
        throw new Error(`no callback; console:\n${page.consoleLines.join("\n")}`);
      });
      assert.deepEqual(await page.evaluate(() => window.acked), ["signup"]);
      assert.equal(await page.evaluate(() => Array.isArray(window.cooladata)), false, "the stub was replaced");

      await waitFor(() => collector.events({ app: key }).length >= 2, { what: "page_load and signup" });
      // trackEventLater: queued, not sent yet.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(names(collector.events({ app: key })), ["page_load", "signup"]);

      const report = await page.evaluate(() => window.cooladata.flush());
      assert.equal(report.sent, 2);
      assert.equal(report.failed, 0);
      const events = collector.events({ app: key });
      assert.deepEqual(names(events), ["later_one", "later_two", "page_load", "signup"]);

      const ua = await page.evaluate(() => navigator.userAgent);
      for (const e of events) {
        assert.equal(e.user_id, "snippet-user", `${e.event_name}: user_id`);
        assert.equal(e.session_id, "session-1", `${e.event_name}: session_id`);
        assert.equal(e.session_dua, ua);
        assert.ok(e.page_url.startsWith(`${collector.url}/snippet.html`), e.page_url);
      }
      const signup = events.find((e) => e.event_name === "signup");
      assert.equal(signup.plan, "pro");
      assert.equal(signup.price, 9.99);
      assert.equal(events.find((e) => e.event_name === "page_load").page_title, "CoolaData snippet, coola-tracker behind it");

      // After loading: setConfig applies to later events; callbacks still come.
      const after = await page.evaluate(
        () =>
          new Promise((resolve) => {
            window.cooladata.setConfig({ user_id: "user-2", session_id: "session-2" });
            window.cooladata.trackEvent("after_load", { step: 2 }, (err) => resolve(err ? err.message : "ok"));
          }),
      );
      assert.equal(after, "ok");
      const late = collector.events({ app: key }).find((e) => e.event_name === "after_load");
      assert.equal(late.user_id, "user-2");
      assert.equal(late.session_id, "session-2");

      const requests = await (await fetch(`${collector.url}/requests`)).json();
      const mine = (Array.isArray(requests) ? requests : requests.requests).filter((r) => r.app === key);
      assert.ok(mine.length >= 2 && mine.every((r) => r.path.startsWith("/v1/{appKey}/track")), JSON.stringify(mine));
    } finally {
      await page.context().close();
    }
  });
}

test("a batch that fails: the callback gets the error, the event is retried and delivered", async () => {
  const key = "cd-retry";
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/snippet.html?loader=classic&app=${key}`);
    await page.waitForFunction(() => window.acked.length > 0, null, { timeout: 10_000 });
    collector.control({ failNext: [{ status: 503 }] });
    const result = await page.evaluate(
      () =>
        new Promise((resolve) => {
          window.cooladata.trackEvent("unlucky", { try: 1 }, (err) => resolve(err ? { code: err.code } : "ok"));
        }),
    );
    assert.deepEqual(result, { code: "request_failed" });
    await waitFor(() => collector.events({ app: key }).some((e) => e.event_name === "unlucky"), {
      timeout: 20_000,
      what: "the retried event",
    });
  } finally {
    await page.context().close();
  }
});
