// Cloudflare Workers: the example Worker of www/worker/, with the installed
// package, bundled as wrangler bundles it (esbuild, conditions
// workerd/worker/browser, `.wasm` imports kept as separate CompiledWasm
// modules), run in workerd through Miniflare. Requests carrying
// CF-Connecting-IP and User-Agent produce events whose session_ip and
// session_dua are the visitor's, sent in one batch per request through
// ctx.waitUntil (the response does not wait for CoolaData).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, chromium, newPage, project, startCollector, tool, waitFor, wasmModules } from "./helpers.mjs";

const APP = "worker-app";
let app;
let collector;
let mf;
let bundle;

before(async () => {
  [app, collector] = await Promise.all([
    project({ "worker.js": readFileSync(join(ROOT, "www", "worker", "worker.js"), "utf8") }),
    startCollector({ port: 0 }),
  ]);
  const esbuild = await tool("esbuild");
  const outdir = join(app.dir, "dist");
  bundle = await esbuild.build({
    entryPoints: [join(app.dir, "worker.js")],
    outdir,
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    plugins: [wasmModules(outdir)],
    logLevel: "silent",
    metafile: true,
  });
  const { Miniflare } = await tool("miniflare");
  mf = new Miniflare({
    modules: true,
    scriptPath: join(outdir, "worker.js"),
    modulesRoot: outdir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-06-01",
    bindings: { COOLA_APP_KEY: APP, COOLA_ENDPOINT: `${collector.url}/v3/{appKey}/track` },
    host: "127.0.0.1",
    port: 0,
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await collector?.close();
  app?.remove();
});

const post = (events, headers = {}) =>
  mf.dispatchFetch("http://example.com/collect", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ events }),
  });

test("the bundle takes the workerd build, keeps the .wasm as a module, and has no warnings", () => {
  assert.deepEqual(bundle.warnings, [], "esbuild (wrangler) warnings");
  const inputs = Object.keys(bundle.metafile.inputs);
  assert.ok(inputs.some((p) => p.endsWith("coola-tracker/workerd.js")), `workerd.js is bundled: ${inputs.join(", ")}`);
  assert.ok(!inputs.some((p) => p.includes("/node/")), "nothing of the Node build");
  const code = readFileSync(join(app.dir, "dist", "worker.js"), "utf8");
  assert.match(code, /from\s*["']\.\/coola_tracker_bg\.wasm["']/);
  assert.match(code, /initSync\(/, "workerd.js instantiates the imported module (kept despite sideEffects)");
});

test("visitor's session_ip and session_dua, one batch per request, flushed through waitUntil", async () => {
  await mf.dispatchFetch("http://example.com/"); // warm the isolate
  // Hold the collector's answer to the next track request: the Worker must
  // answer its visitor before CoolaData has answered it.
  collector.control({ failNext: [{ delayMs: 3000 }] });
  const ua = "Mozilla/5.0 (X11; Linux x86_64) VisitorBrowser/1.0";
  const res = await post(
    [
      { event_name: "page_view", user_id: "visitor-1", path: "/pricing" },
      { event_name: "click", user_id: "visitor-1", plan: "pro", price: 9.5 },
      { event_name: "spoof", user_id: "visitor-1", session_ip: "6.6.6.6", session_dua: "fake" },
    ],
    { "CF-Connecting-IP": "203.0.113.7", "User-Agent": ua },
  );
  assert.equal(res.status, 202);
  const out = await res.json();
  assert.equal(out.accepted.length, 3);
  assert.deepEqual(out.rejected, []);
  assert.equal(collector.events({ app: APP }).length, 0, "the response did not wait for the flush");

  const events = await waitFor(() => {
    const e = collector.events({ app: APP });
    return e.length >= 3 && e;
  }, { what: "the batch to reach the collector" });
  assert.deepEqual(events.map((e) => e.event_id).sort(), [...out.accepted].sort());
  for (const e of events) {
    assert.equal(e.session_ip, "203.0.113.7", `${e.event_name}: session_ip`);
    assert.equal(e.session_dua, ua, `${e.event_name}: session_dua`);
    assert.equal(e.user_id, "visitor-1");
  }
  assert.equal(new Set(events.map((e) => e._request)).size, 1, "one request for the three events");
  assert.equal(events.find((e) => e.event_name === "click").price, 9.5);
});

// (Miniflare fills CF-Connecting-IP in itself, so the "0" of an absent header
// is checked in node.test.mjs, with Node's Request.)
test("each visitor's own IP and user agent; bad events rejected, the rest sent", async () => {
  collector.reset();
  const res = await post(
    [
      { event_name: "local_view", user_id: "visitor-2" },
      { event_name: "bad", user_id: "visitor-2", cart: { items: 2 } },
      { event_name: "anonymous" },
    ],
    { "CF-Connecting-IP": "2001:db8::1", "User-Agent": "OtherBrowser/2.0" },
  );
  assert.equal(res.status, 202);
  const out = await res.json();
  assert.equal(out.accepted.length, 1);
  assert.deepEqual(
    out.rejected.map((r) => [r.index, r.code, r.field]),
    [
      [1, "nested_property", "cart"],
      [2, "missing_field", "user_id"],
    ],
  );
  const [e] = await waitFor(() => {
    const ev = collector.events({ app: APP });
    return ev.length >= 1 && ev;
  });
  assert.equal(e.event_name, "local_view");
  assert.equal(e.session_ip, "2001:db8::1");
  assert.equal(e.session_dua, "OtherBrowser/2.0");
});

test("the example page posts its events to the Worker, which forwards them", async () => {
  collector.reset();
  const url = await mf.ready;
  const browser = await chromium();
  try {
    const page = await newPage(browser); // closed with the browser
    await page.goto(url.href);
    const first = await page.evaluate(() => window.collected);
    assert.equal(first.accepted.length, 1, page.consoleLines.join("\n"));
    await page.click("#buy");
    await page.evaluate(() => window.collected);
    const events = await waitFor(() => {
      const ev = collector.events({ app: APP });
      return ev.length >= 2 && ev;
    }, { what: "page_view and click" });
    assert.deepEqual(events.map((e) => e.event_name), ["page_view", "click"]);
    const ua = await page.evaluate(() => navigator.userAgent);
    for (const e of events) {
      assert.equal(e.session_dua, ua);
      assert.equal(typeof e.session_ip, "string");
      assert.equal(e.user_id, events[0].user_id);
    }
  } finally {
    await browser.close();
  }
});
