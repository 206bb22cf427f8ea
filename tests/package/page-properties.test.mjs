// autoPageProperties in a page: with the default (true) track() adds the
// page's URL and title and the tracker's referrer, screen and UTM
// properties; with false none of them, though trackPageView() still says
// which page it was (api.md: a page_view carries page_url and page_title).
// A page of the installed package against the local collector.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium, newPage, project, startCollector, waitFor } from "./helpers.mjs";

const PAGE_KEYS = ["page_url", "page_title", "referring_url", "referring_domain", "session_screen_size", "utm_campaign"];

let app;
let site;
let browser;

before(async () => {
  app = await project();
  app.write({
    "site/index.html": `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>secret title</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports":{"coola-tracker":"/pkg/web/coola_tracker.js"}}</script>
<script type="module">
import init, { CoolaTracker } from "coola-tracker";
await init();
const endpoint = location.origin + "/v3/{appKey}/track";
const run = async (appKey, extra) => {
  const t = new CoolaTracker({ appKey, endpoint, persist: false, flushIntervalMs: 0, ...extra });
  t.track("plain", { own: "yes" });
  if (extra.autoPageProperties === false) t.trackPageView();
  return t.shutdown();
};
window.result = { on: await run("props-on", {}), off: await run("props-off", { autoPageProperties: false }) };
</script>
</head>
<body></body>
</html>
`,
  });
  [site, browser] = await Promise.all([
    startCollector({ port: 0, static: `${app.dir}/site`, mounts: { "/pkg": app.pkgDir } }),
    chromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await site?.close();
  app?.remove();
});

test("autoPageProperties: false keeps the page's URL, title, referrer, screen and UTM out of track()'s events", async () => {
  const page = await newPage(browser);
  try {
    await page.goto(`${site.url}/index.html?utm_campaign=c1&token=t0k3n`, { referer: "https://ref.example/from" });
    await page.waitForFunction(() => window.result, null, { timeout: 15_000 });
    const result = await page.evaluate(() => window.result);
    assert.deepEqual(result.on, { sent: 1, failed: 0, pending: 0, requests: 1 });
    assert.deepEqual(result.off, { sent: 2, failed: 0, pending: 0, requests: 1 });
  } finally {
    await page.context().close();
  }
  await waitFor(() => site.events({ app: "props-off" }).length === 2, { what: "the events" });
  const [on] = site.events({ app: "props-on" });
  assert.ok(on.page_url.endsWith("/index.html?utm_campaign=c1&token=t0k3n"), `page_url ${on.page_url}`);
  assert.equal(on.page_title, "secret title");
  assert.equal(on.utm_campaign, "c1");
  assert.equal(on.referring_url, "https://ref.example/from");
  assert.equal(on.own, "yes");

  const off = site.events({ app: "props-off" });
  const plain = off.find((e) => e.event_name === "plain");
  assert.equal(plain.own, "yes");
  for (const k of PAGE_KEYS) assert.equal(plain[k], undefined, `${k} in ${JSON.stringify(plain)}`);
  const view = off.find((e) => e.event_name === "page_view");
  assert.ok(view.page_url.endsWith("token=t0k3n"), "a page view still names its page");
  assert.equal(view.page_title, "secret title");
});
