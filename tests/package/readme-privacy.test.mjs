// The README's consent-banner example, as written: the first ```js block
// under "## Consent, sessions, page views and hooks" of README.md, read when
// the test runs, runs unchanged as a page module with the
// installed package against the local collector, with the banner's markup
// (#banner, #accept, #decline) and <html data-coola-endpoint> set to the
// collector first.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, chromium, newPage, openExample, project, startCollector, waitFor } from "./helpers.mjs";

const HEADING = "## Consent, sessions, page views and hooks";

/** The first ```js block under HEADING in README.md. */
function example() {
  const lines = readFileSync(join(ROOT, "README.md"), "utf8").split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim() === HEADING);
  assert.ok(start >= 0, `no heading "${HEADING}"`);
  const open = lines.findIndex((l, i) => i > start && /^```js\s*$/.test(l));
  const next = lines.findIndex((l, i) => i > start && /^##\s/.test(l));
  assert.ok(open > start && (next < 0 || open < next), `no \`\`\`js block under "${HEADING}"`);
  const close = lines.findIndex((l, i) => i > open && /^```\s*$/.test(l));
  const code = lines.slice(open + 1, close).join("\n") + "\n";
  assert.match(code, /optIn\(\)/, "the example calls optIn()");
  return code;
}

const APP = "YOUR_APP_KEY"; // as written in the example
let app;
let site;
let browser;

before(async () => {
  app = await project();
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>consent example</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports":{"coola-tracker":"/pkg/web/coola_tracker.js"}}</script>
<script>document.documentElement.dataset.coolaEndpoint = location.origin + "/v3/{appKey}/track";</script>
<script type="module">import "/consent.js"; window.readmeReady = true;</script>
</head>
<body>
<div id="banner">We use analytics. <button id="accept">Accept</button> <button id="decline">Decline</button></div>
</body>
</html>
`;
  app.write({
    "consent-site/index.html": html,
    "consent-site/consent.js": example(),
    "consent-site/next.html": `<!doctype html><meta charset="utf-8"><title>next</title><link rel="icon" href="data:,"><p id="next">next</p>\n`,
  });
  [site, browser] = await Promise.all([
    startCollector({ port: 0, static: join(app.dir, "consent-site"), mounts: { "/pkg": app.pkgDir } }),
    chromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await site?.close();
  app?.remove();
});

async function load(page, path = "/index.html") {
  await openExample(page, `${site.url}${path}`);
}

async function leave(page) {
  await page.goto(`${site.url}/next.html`); // pagehide: the tracker sends what is queued
  assert.equal(await page.textContent("#next"), "next");
}

const views = () => site.events({ app: APP }).filter((e) => e.event_name === "page_view");

test("nothing is tracked before Accept; then page views, and on the next page load too", async () => {
  site.reset();
  const page = await newPage(browser);
  try {
    await load(page);
    assert.equal(await page.isVisible("#banner"), true);
    await page.evaluate(() => history.pushState({}, "", "/index.html?before=accept"));
    await page.click("#accept");
    assert.equal(await page.isVisible("#banner"), false);
    await page.evaluate(() => history.pushState({}, "", "/index.html?step=2"));
    await leave(page);
    const got = await waitFor(() => views().length >= 2 && views(), { what: "two page views" });
    assert.deepEqual(
      got.map((e) => [new URL(e.page_url).search, e.referring_url ? new URL(e.referring_url).search : ""]),
      [
        ["?before=accept", ""],
        ["?step=2", "?before=accept"],
      ],
      "the page view held back at start is tracked on Accept, then one per navigation",
    );
    await load(page); // consent is remembered: tracked from the start, no banner
    assert.equal(await page.isVisible("#banner"), false);
    await leave(page);
    await waitFor(() => views().length === 3, { what: "the next load's page view" });
    assert.equal(new Set(views().map((e) => e.session_id)).size, 1, "one session over both loads");
    assert.deepEqual(page.consoleLines.filter((l) => /^(error|pageerror)/.test(l)), [], "no errors in the page");
  } finally {
    await page.context().close();
  }
});

test("after Decline nothing is sent, on this page or the next", async () => {
  site.reset();
  const page = await newPage(browser);
  try {
    await load(page);
    await page.click("#decline");
    await page.evaluate(() => history.pushState({}, "", "/index.html?declined"));
    await leave(page);
    await load(page);
    assert.equal(await page.isVisible("#banner"), false);
    await page.evaluate(() => history.pushState({}, "", "/index.html?still"));
    await leave(page);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(site.events({ app: APP }).length, 0, "no events");
  } finally {
    await page.context().close();
  }
});
