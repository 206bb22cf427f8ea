// The README's examples, as written: each test reads README.md when it
// runs, takes the first ```js block under "## In a web page", "## In a
// Cloudflare Worker", "## In Node.js (20+)" and "## Coming from CoolaData's
// JavaScript SDK", and runs it unchanged with the installed package against
// the local collector. Editing an example in the README changes what is
// tested here.
//
// - Node: the block is a .mjs file in a project with the tarball installed,
//   run by `node` with COOLA_APP_KEY and COOLA_ENDPOINT in its environment.
// - Worker: the block is the Worker's module, bundled as wrangler bundles it
//   (as worker.test.mjs does for www/worker), run in workerd through
//   Miniflare with the COOLA_APP_KEY and COOLA_ENDPOINT bindings.
// - Web page: the block is a module of a page served by the collector, with
//   an import map resolving the bare "coola-tracker" to the installed
//   package's web build, a #buy button, and <html data-coola-endpoint> set
//   to the collector first.
// - The cooladata drop-in: the same, the import map resolving
//   "coola-tracker/cooladata" to the package's cooladata.js, and
//   <html data-coola-api-host> set to the collector's host.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, chromium, exec, newPage, openExample, project, readmeBlock, startCollector, tool, waitFor, wasmModules } from "./helpers.mjs";

const HEADINGS = {
  web: "## In a web page",
  worker: "## In a Cloudflare Worker",
  node: "## In Node.js (20+)",
  cooladata: "## Coming from CoolaData's JavaScript SDK",
};

/** Events of `app` once at least `n` arrived (and no more than `n`). */
async function delivered(collector, app, n, what) {
  const events = await waitFor(
    () => {
      const e = collector.events({ app });
      return e.length >= n && e;
    },
    { timeout: 15_000, what: `${n} ${what} events of ${app} (got ${collector.events({ app }).length})` },
  );
  assert.equal(events.length, n, `exactly ${n} ${what} events`);
  return events;
}

let app;
let collector;

before(async () => {
  [app, collector] = await Promise.all([project(), startCollector({ port: 0 })]);
});

after(async () => {
  await collector?.close();
  app?.remove();
});

const endpoint = () => `${collector.url}/v3/{appKey}/track`;

// The README's edge collector Worker is www/edge/worker.js, which
// tests/edge deploys in workerd from its wrangler.toml and drives: the same
// code, comments aside.
test("the README's edge collector example is the Worker tests/edge runs", () => {
  const code = (text) =>
    text
      .split("\n")
      .map((l) => l.replace(/\s*\/\/.*$/, "").trim())
      .filter(Boolean);
  const block = readmeBlock("## At the edge: a first-party collector");
  assert.deepEqual(code(block), code(readFileSync(join(ROOT, "www", "edge", "worker.js"), "utf8")));
});

// What npm shows is the package's own README: its examples must be the ones
// run below, to the letter, so that they are tested too.
const NPM_HEADINGS = {
  web: "## Browsers and bundlers (Vite, webpack, Rollup, esbuild)",
  worker: "## Cloudflare Workers",
  node: "## Node.js (20 and later)",
  cooladata: "## Coming from CoolaData's JavaScript tracker",
};
describe("the npm README (as installed from the tarball)", () => {
  for (const [kind, heading] of Object.entries(NPM_HEADINGS)) {
    test(`its "${heading}" example is the tested one`, () => {
      const installed = join(app.dir, "node_modules", "coola-tracker", "README.md");
      assert.equal(readmeBlock(heading, installed), readmeBlock(HEADINGS[kind]));
    });
  }
  test("it links the API reference that the package carries", () => {
    const dir = join(app.dir, "node_modules", "coola-tracker");
    assert.match(readFileSync(join(dir, "README.md"), "utf8"), /\]\(\.\/API\.md\)/);
    const api = readFileSync(join(dir, "API.md"), "utf8");
    for (const name of ["parseTimestamp", "validateEvent", "encodeBatch", "TrackerOptions", "visitorProperties", "missing_field"]) {
      assert.ok(api.includes(name), `API.md documents ${name}`);
    }
  });
});

describe("README: In Node.js (20+)", () => {
  test("the example runs with node, sends both job_finished events and prints the report", async () => {
    const code = readmeBlock(HEADINGS.node);
    app.write({ "readme-node.mjs": code });
    const r = await exec(process.execPath, ["readme-node.mjs"], {
      cwd: app.dir,
      timeout: 20_000,
      env: { COOLA_APP_KEY: "readme-node", COOLA_ENDPOINT: endpoint() },
    });
    assert.equal(r.signal, null, `the process did not exit by itself (killed after ${r.ms} ms)`);
    assert.equal(r.code, 0, `exit code ${r.code}\n${r.stderr}`);

    const events = collector.events({ app: "readme-node" });
    assert.equal(events.length, 2, `two events (got ${JSON.stringify(events)})`);
    assert.ok(events.every((e) => e.event_name === "job_finished"), "both are job_finished");
    assert.deepEqual(
      events.map(({ job, rows, ok, user_id }) => ({ job, rows, ok, user_id })),
      [
        { job: "nightly-export", rows: 120394, ok: "true", user_id: "server" },
        { job: "cleanup", rows: 17, ok: "true", user_id: "server" },
      ],
    );
    assert.equal(new Set(events.map((e) => e._request)).size, 1, "one request for both");

    const printed = r.stdout.trim();
    assert.match(printed, /\bsent: 2\b/, `the report shows sent 2: ${printed}`);
    // The comment after console.log(report) in the README is what it prints.
    const documented = /console\.log\(report\);\s*\/\/\s*(\{.*\})\s*$/m.exec(code)?.[1];
    if (documented) assert.equal(printed, documented, "the printed report is the one the README shows");
  });
});

describe("README: In a Cloudflare Worker", () => {
  const APP = "readme-worker";
  let mf;
  let bundle;

  before(async () => {
    app.write({ "readme-worker/worker.js": readmeBlock(HEADINGS.worker) });
    const esbuild = await tool("esbuild");
    const outdir = join(app.dir, "readme-worker", "dist");
    bundle = await esbuild.build({
      entryPoints: [join(app.dir, "readme-worker", "worker.js")],
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
      bindings: { COOLA_APP_KEY: APP, COOLA_ENDPOINT: endpoint() },
      host: "127.0.0.1",
      port: 0,
    });
    await mf.ready;
  });

  after(async () => {
    await mf?.dispose();
  });

  test("the example bundles with the workerd build and no warnings", () => {
    assert.deepEqual(bundle.warnings, [], "esbuild (wrangler) warnings");
    const inputs = Object.keys(bundle.metafile.inputs);
    assert.ok(inputs.some((p) => p.endsWith("coola-tracker/workerd.js")), `workerd.js is bundled: ${inputs.join(", ")}`);
  });

  test("each request sends a page_view with the visitor's IP, user agent, user id and path", async () => {
    const visitors = [
      { path: "/pricing", ip: "203.0.113.7", ua: "Mozilla/5.0 (X11; Linux x86_64) ReadmeBrowser/1.0", user: "user-1" },
      { path: "/docs/start", ip: "2001:db8::5", ua: "OtherBrowser/2.0", user: "user-2" },
    ];
    for (const v of visitors) {
      const res = await mf.dispatchFetch(`http://example.com${v.path}?ref=readme`, {
        headers: { "CF-Connecting-IP": v.ip, "User-Agent": v.ua, "X-User-Id": v.user },
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
      // One at a time: each request's flush is its own batch.
      await delivered(collector, APP, visitors.indexOf(v) + 1, "page_view");
    }
    const events = collector.events({ app: APP });
    assert.deepEqual(
      events.map(({ event_name, session_ip, session_dua, user_id, path }) => ({ event_name, session_ip, session_dua, user_id, path })),
      visitors.map((v) => ({ event_name: "page_view", session_ip: v.ip, session_dua: v.ua, user_id: v.user, path: v.path })),
    );
    assert.equal(new Set(events.map((e) => e._request)).size, 2, "one request per visit (ctx.waitUntil(flush()))");
  });
});

describe("README: In a web page", () => {
  const APP = "YOUR_APP_KEY"; // as written in the example
  let browser;
  let site;

  before(async () => {
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>README web example</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports":{"coola-tracker":"/pkg/web/coola_tracker.js"}}</script>
<script>document.documentElement.dataset.coolaEndpoint = location.origin + "/v3/{appKey}/track";</script>
<!-- The README example is a module with top-level await; importing it makes
     this module wait until it finished (init() done, the listener added). -->
<script type="module">import "/readme-web.js"; window.readmeReady = true;</script>
</head>
<body><button id="buy">Buy</button></body>
</html>
`;
    app.write({
      "readme-site/index.html": html,
      "readme-site/readme-web.js": readmeBlock(HEADINGS.web),
      "readme-site/next.html": `<!doctype html><meta charset="utf-8"><title>next</title><link rel="icon" href="data:,"><p id="next">the next page</p>\n`,
    });
    [site, browser] = await Promise.all([
      startCollector({ port: 0, static: join(app.dir, "readme-site"), mounts: { "/pkg": app.pkgDir } }),
      chromium(),
    ]);
  });

  after(async () => {
    await browser?.close();
    await site?.close();
  });

  test("three clicks on #buy, then leaving the page: three purchase events arrive", async () => {
    const page = await newPage(browser);
    try {
      await openExample(page, `${site.url}/index.html`);
      for (let i = 0; i < 3; i++) await page.click("#buy");
      await page.goto(`${site.url}/next.html`); // pagehide: the tracker sends what is queued
      assert.equal(await page.textContent("#next"), "the next page");
      const events = await delivered(site, APP, 3, "purchase");
      const ua = await page.evaluate(() => navigator.userAgent);
      for (const e of events) {
        assert.equal(e.event_name, "purchase");
        assert.equal(e.plan, "pro");
        assert.equal(e.price, 9.99);
        assert.equal(e.trial, "false");
        assert.equal(e.session_dua, ua);
        assert.equal(typeof e.user_id, "string");
        assert.ok(e.user_id.length > 0, "the anonymous user id");
      }
      assert.equal(new Set(events.map((e) => e.event_id)).size, 3, "three distinct events");
      assert.deepEqual(page.consoleLines.filter((l) => /^(error|pageerror)/.test(l)), [], "no errors in the page");
    } finally {
      await page.context().close();
    }
  });
});

describe("README: Coming from CoolaData's JavaScript SDK", () => {
  const APP = "YOUR_APP_KEY"; // as written in the example
  let browser;
  let site;

  before(async () => {
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>README drop-in example</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports":{"coola-tracker/cooladata":"/pkg/cooladata.js"}}</script>
<script>document.documentElement.dataset.coolaApiHost = location.host;</script>
<script type="module">import "/readme-cooladata.js"; window.readmeReady = true;</script>
</head>
<body><p>a site moving from cooladata-js</p></body>
</html>
`;
    app.write({
      "readme-cooladata-site/index.html": html,
      "readme-cooladata-site/readme-cooladata.js": readmeBlock(HEADINGS.cooladata),
    });
    [site, browser] = await Promise.all([
      startCollector({ port: 0, static: join(app.dir, "readme-cooladata-site"), mounts: { "/pkg": app.pkgDir } }),
      chromium(),
    ]);
  });

  after(async () => {
    await browser?.close();
    await site?.close();
  });

  test("init, trackEvent, trackEventLater and flush deliver page_load, signup and scrolled to /v1/{app_key}/track", async () => {
    const page = await newPage(browser);
    try {
      await openExample(page, `${site.url}/index.html`);
      // No page hide: trackEventLater's event is sent by the example's flush().
      const events = await delivered(site, APP, 3, "page_load, signup and scrolled");
      const byName = Object.fromEntries(events.map((e) => [e.event_name, e]));
      assert.deepEqual(Object.keys(byName).sort(), ["page_load", "scrolled", "signup"]);
      // As the example's comment says (scrolled, trackEventLater's, has a request of its own).
      assert.deepEqual(
        events.map((e) => e.event_name).filter((n) => n !== "scrolled"),
        ["page_load", "signup"],
        "track_pageload: page_load is the first event, before signup",
      );
      assert.deepEqual(
        [...new Set(site.requests().map((r) => r.path))],
        ["/v1/{appKey}/track"],
        "cooladata-js's endpoint, from api_host",
      );

      const [cookie] = (await page.context().cookies()).filter((c) => c.name === "cd_user_id");
      assert.ok(cookie && cookie.value.length > 0, "the anonymous id is in the cd_user_id cookie");
      const version = JSON.parse(readFileSync(join(app.pkgDir, "package.json"), "utf8")).version;
      for (const e of events) {
        assert.equal(e.user_id, decodeURIComponent(cookie.value), `${e.event_name}: the cookie's anonymous id`);
        assert.equal(e.session_id, "s-1", `${e.event_name}: init's session_id`);
        assert.equal(e.tracker_type, "javascript", `${e.event_name}: tracker_type`);
        assert.equal(e.tracker_version, `coola-tracker/${version}`, `${e.event_name}: tracker_version`);
      }
      assert.equal(byName.signup.plan, "pro");
      assert.match(String(byName.signup.at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, "a Date property is sent as its ISO string");
      assert.equal(byName.scrolled.depth, 50);
      assert.equal(byName.page_load.page_url, `${site.url}/index.html`, "track_pageload: the page view, named page_load");
      assert.equal(byName.page_load.page_title, "README drop-in example");

      // Everything acknowledged, and trackEvent's callback had nothing to warn about.
      await waitFor(() => page.evaluate(() => window.cooladata.pending === 0), { what: "nothing pending" });
      assert.deepEqual(page.consoleLines.filter((l) => /^(error|warning|pageerror)/.test(l)), [], "no warnings or errors in the page");
    } finally {
      await page.context().close();
    }
  });
});
