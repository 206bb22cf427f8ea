// The cooladata drop-in keeps the anonymous id as cooladata-js does: in the
// `cd_user_id` cookie of the site's registrable domain, so that
// shop.example.test and www.example.test share it, written and renewed for
// `cookie_expiration` days (365), `path=/`, `SameSite=Lax`, `Secure` on
// https; `cookie_name` and `disable_cookie` honoured; localStorage holds the
// same id. Chromium resolves *.example.test to 127.0.0.1 (the collector,
// which serves the pages); the https case is served through routes.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { after, before, test } from "node:test";
import { CHROMIUM_ARGS, FIXTURES, project, startCollector, tool, waitFor } from "./helpers.mjs";

const DAY = 24 * 60 * 60 * 1000;
let app;
let collector;
let browser;

before(async () => {
  app = await project();
  const { chromium } = await tool("playwright-core");
  [collector, browser] = await Promise.all([
    startCollector({ port: 0, static: join(FIXTURES, "pages"), mounts: { "/pkg": app.pkgDir } }),
    chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: [...CHROMIUM_ARGS, "--host-resolver-rules=MAP *.example.test 127.0.0.1"],
    }),
  ]);
});

after(async () => {
  await browser?.close();
  await collector?.close();
  app?.remove();
});

// The site's calls: init with ?app, ?api (api_host) and ?cfg (more of the
// configuration, JSON), then one event.
function site() {
  var q = new URLSearchParams(location.search);
  var cfg = JSON.parse(q.get("cfg") || "{}");
  cfg.app_key = q.get("app");
  cfg.api_host = q.get("api");
  cooladata.init(cfg);
  cooladata.trackEvent("visit", { on: location.hostname }, function (err) {
    window.visited = err ? err.code : "ok";
  });
}

async function context() {
  const ctx = await browser.newContext();
  await ctx.addInitScript(`window.site = ${site.toString()};`);
  return ctx;
}

/** Visits site.html on `host` in `ctx`; resolves the event it delivered and the page's localStorage id. */
async function visit(ctx, host, key, cfg = {}) {
  const page = await ctx.newPage();
  const lines = [];
  page.on("console", (m) => lines.push(`${m.type()}: ${m.text()}`));
  try {
    const api = `127.0.0.1:${collector.port}`;
    const q = new URLSearchParams({ loader: "classic", app: key, api, cfg: JSON.stringify(cfg) });
    await page.goto(`http://${host}:${collector.port}/site.html?${q}`);
    await page.waitForFunction(() => window.visited, null, { timeout: 10_000 }).catch(() => {
      throw new Error(`no event from ${host}:\n${lines.join("\n")}`);
    });
    assert.equal(await page.evaluate(() => window.visited), "ok");
    const event = await waitFor(() => collector.events({ app: key }).find((e) => e.on === host), { what: `the visit of ${host}` });
    const stored = await page.evaluate(() => localStorage.getItem("coola:user_id"));
    return { event, stored };
  } finally {
    await page.close();
  }
}

const idCookies = async (ctx, name = "cd_user_id") => (await ctx.cookies()).filter((c) => c.name === name);

function assertLasts(c, days) {
  const left = c.expires * 1000 - Date.now();
  assert.ok(Math.abs(left - days * DAY) < DAY, `expires in ${(left / DAY).toFixed(1)} days, not ${days}`);
}

test("a new visitor's id is the cd_user_id cookie of the registrable domain, shared by its subdomains", async () => {
  const ctx = await context();
  try {
    const shop = await visit(ctx, "shop.example.test", "cookie-share");
    const id = shop.event.user_id;
    const [c, ...more] = await idCookies(ctx);
    assert.equal(more.length, 0, "one cookie");
    assert.equal(c.value, id);
    assert.equal(c.domain, ".example.test", "on the registrable domain");
    assert.equal(c.path, "/");
    assert.equal(c.sameSite, "Lax");
    assert.equal(c.secure, false, "http: not Secure");
    assertLasts(c, 365);
    assert.equal(shop.stored, id, "localStorage holds the same id");

    const www = await visit(ctx, "www.example.test", "cookie-share");
    assert.equal(www.event.user_id, id, "the other subdomain sends the same user_id");
    assert.equal(www.stored, id, "and keeps it in its localStorage too");

    // Renewed on each page load, here with cookie_expiration: 30.
    await visit(ctx, "www.example.test", "cookie-renew", { cookie_expiration: 30 });
    const [renewed] = await idCookies(ctx);
    assert.equal(renewed.value, id);
    assertLasts(renewed, 30);
  } finally {
    await ctx.close();
  }
});

test("an id cooladata-js left in the cookie is kept, and localStorage follows it", async () => {
  const ctx = await context();
  try {
    await ctx.addCookies([{ name: "cd_user_id", value: "legacy-visitor-1", domain: ".example.test", path: "/" }]);
    // localStorage of this origin had another id (an earlier visit without the cookie).
    const page = await ctx.newPage();
    await page.goto(`http://shop.example.test:${collector.port}/next.html`);
    await page.evaluate(() => localStorage.setItem("coola:user_id", "older-per-origin-id"));
    await page.close();
    const shop = await visit(ctx, "shop.example.test", "cookie-legacy");
    assert.equal(shop.event.user_id, "legacy-visitor-1");
    assert.equal(shop.stored, "legacy-visitor-1");
    const [c] = await idCookies(ctx);
    assert.equal(c.value, "legacy-visitor-1");
    assertLasts(c, 365);
  } finally {
    await ctx.close();
  }
});

test("cookie_name and disable_cookie are honoured; a given user_id writes no cookie", async () => {
  const named = await context();
  try {
    const { event } = await visit(named, "shop.example.test", "cookie-named", { cookie_name: "site_uid" });
    const cookies = await named.cookies();
    assert.deepEqual(cookies.map((c) => c.name), ["site_uid"]);
    assert.equal(cookies[0].value, event.user_id);
  } finally {
    await named.close();
  }
  const disabled = await context();
  try {
    const first = await visit(disabled, "shop.example.test", "cookie-off", { disable_cookie: true });
    assert.deepEqual(await disabled.cookies(), [], "no cookie");
    assert.equal(first.stored, first.event.user_id, "the id is kept in localStorage");
  } finally {
    await disabled.close();
  }
  const given = await context();
  try {
    const { event } = await visit(given, "shop.example.test", "cookie-given", { user_id: "known-user" });
    assert.equal(event.user_id, "known-user");
    assert.deepEqual(await given.cookies(), []);
  } finally {
    await given.close();
  }
});

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

test("on https the cookie is Secure", async () => {
  const ctx = await context();
  try {
    // The site and the API on https, answered by routes (no network).
    let tracked = 0;
    await ctx.route("https://api.example.test/**", (route) => {
      tracked++;
      return route.fulfill({ status: 200, contentType: "application/json", body: '{"status":true,"results":{}}', headers: { "Access-Control-Allow-Origin": "*" } });
    });
    await ctx.route("https://shop.example.test/**", (route) => {
      const path = new URL(route.request().url()).pathname;
      const file = path.startsWith("/pkg/") ? join(app.pkgDir, path.slice(5)) : join(FIXTURES, "pages", path);
      return route.fulfill({ status: 200, contentType: TYPES[extname(file)] ?? "text/plain", body: readFileSync(file) });
    });
    const page = await ctx.newPage();
    const q = new URLSearchParams({ loader: "classic", app: "cookie-https", api: "api.example.test", cfg: "{}" });
    await page.goto(`https://shop.example.test/site.html?${q}`);
    await page.waitForFunction(() => window.visited, null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.visited), "ok");
    assert.ok(tracked > 0, "the event went to https://api.example.test");
    const [c, ...more] = await idCookies(ctx);
    assert.equal(more.length, 0);
    assert.equal(c.secure, true);
    assert.equal(c.sameSite, "Lax");
    assert.equal(c.domain, ".example.test");
    assert.equal(c.value, await page.evaluate(() => localStorage.getItem("coola:user_id")));
  } finally {
    await ctx.close();
  }
});
