// Vite: an app (tests/package/fixtures/vite-app) importing the installed
// package as users write it, built with `vite build` and run in headless
// Chromium from the collector's origin, delivers its events; the same app
// under the Vite dev server (dependency pre-bundling) too. The app also uses
// the "./cooladata" export, through the bundler.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium, copyFixture, newPage, project, startCollector, tool, waitFor } from "./helpers.mjs";

let app;
let collector;
let browser;
let vite;
let built;

before(async () => {
  app = await project();
  copyFixture("vite-app", app.dir);
  vite = await tool("vite");
  built = await vite.build({
    root: app.dir,
    configFile: false,
    logLevel: "silent",
    build: { outDir: join(app.dir, "dist"), emptyOutDir: true },
  });
  [collector, browser] = await Promise.all([
    startCollector({ port: 0, static: join(app.dir, "dist") }),
    chromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await collector?.close();
  app?.remove();
});

async function runApp(url) {
  const page = await newPage(browser);
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.result, null, { timeout: 15_000 });
    const result = await page.evaluate(() => window.result);
    assert.equal(result.error, undefined, `${result.error}\n${page.consoleLines.join("\n")}`);
    return { result, ua: await page.evaluate(() => navigator.userAgent) };
  } finally {
    await page.context().close();
  }
}

function checkDelivered({ result, ua }, pageUrl) {
  assert.deepEqual(result.report, { sent: 2, failed: 0, pending: 0, requests: 1 });
  assert.equal(result.thrown, "nested_property");
  assert.deepEqual(result.errors, []);
  assert.equal(result.acked, "ok", "the cooladata callback is called once the batch is acknowledged");
  const events = collector.events({ app: "vite-app" });
  assert.deepEqual(events.map((e) => e.event_id).sort(), [...result.ids].sort());
  const click = events.find((e) => e.event_name === "click");
  assert.equal(click.price, 9.99);
  assert.equal(click.member, "false");
  assert.equal(click.user_id, result.userId);
  assert.equal(click.session_dua, ua);
  assert.ok(click.page_url.startsWith(pageUrl), `page_url ${click.page_url}`);
  const [cd] = collector.events({ app: "vite-cd" });
  assert.equal(cd?.event_name, "cd_event");
  assert.equal(cd.session_id, "s-1");
  assert.equal(cd.from, "vite");
}

test("vite build: the web build, its wasm emitted as an asset, nothing of Node", () => {
  const assets = readdirSync(join(app.dir, "dist", "assets"));
  assert.ok(assets.some((f) => /^coola_tracker_bg-.*\.wasm$/.test(f)), `assets: ${assets.join(", ")}`);
  const js = assets.filter((f) => f.endsWith(".js")).map((f) => readFileSync(join(app.dir, "dist", "assets", f), "utf8"));
  assert.ok(js.length > 0);
  for (const code of js) {
    assert.doesNotMatch(code, /\brequire\(["'](fs|path|node:)/, "no Node build in the browser bundle");
  }
  assert.ok(built, "vite build returned");
});

test("the built app runs in Chromium and delivers its events", async () => {
  collector.reset();
  const run = await runApp(`${collector.url}/`);
  checkDelivered(run, collector.url);
});

test("the Vite dev server (pre-bundled dependency) runs the same app", async () => {
  collector.reset();
  const server = await vite.createServer({
    root: app.dir,
    configFile: false,
    logLevel: "silent",
    server: { host: "127.0.0.1", port: 0, strictPort: false, hmr: false },
  });
  try {
    await server.listen();
    const base = server.resolvedUrls.local[0];
    const run = await runApp(`${base}?collector=${encodeURIComponent(collector.url)}`);
    await waitFor(() => collector.events({ app: "vite-cd" }).length > 0, { what: "the cooladata event" });
    checkDelivered(run, base);
  } finally {
    await server.close();
  }
});
