// `endpoint` must be https, except for loopback hosts (localhost,
// 127.0.0.0/8, [::1]), in the package as shipped (Node build), and in a
// page, where request interception shows which host fetch really contacts.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { PKG, SECRET, launch, newPage, pageResult, requirePkg, startCollector, uniqueApp } from "./helpers.mjs";

let browser;
let collector;
let lib;

before(async () => {
  requirePkg();
  lib = await import(join(PKG, "node", "index.mjs"));
  [browser, collector] = await Promise.all([launch(), startCollector()]);
});

after(async () => {
  await browser?.close();
  await collector?.close();
});

const REFUSED = [
  "http://example.com/v3/{appKey}/track",
  "http://10.0.0.1/",
  "http://127.0.0.1.evil.com/",
  "http://localhost.evil.com/",
  "http://localhost@evil.com/",
  "http://127.0.0.1:80@evil.com/",
  "http://evil.com#@localhost/",
  "http://0.0.0.0/",
  "http://192.168.1.1/",
  "ws://localhost/",
  "file:///etc/passwd",
  "javascript:alert(1)",
  "//localhost/",
];
const ACCEPTED = ["http://localhost:1/", "http://127.0.0.5/", "http://[::1]:1/", "https://example.com/collect"];

test("node: non-loopback http endpoints are invalid_option, loopback ones accepted", () => {
  const appKey = uniqueApp("endpoint");
  for (const endpoint of REFUSED) {
    assert.throws(
      () => new lib.CoolaTracker({ appKey, endpoint, flushIntervalMs: 0 }),
      (e) => {
        assert.ok(e instanceof Error, endpoint);
        assert.equal(e.code, "invalid_option", endpoint);
        assert.equal(e.field, "endpoint", endpoint);
        assert.ok(!e.message.includes(SECRET), e.message);
        return true;
      },
      endpoint,
    );
  }
  for (const endpoint of ACCEPTED) {
    const t = new lib.CoolaTracker({ appKey, endpoint, flushIntervalMs: 0 });
    t.free();
  }
});

test(
  "page: a backslash cannot smuggle a remote host past the loopback rule ",
  async () => {
    const page = await newPage(browser);
    try {
      await page.goto(`${collector.url}/app.html`);
      assert.equal((await pageResult(page)).ok, true);
      const contacted = [];
      await page.route("**/*", (route) => {
        const u = new URL(route.request().url());
        if (u.hostname !== "127.0.0.1") contacted.push(u.href);
        return u.hostname === "127.0.0.1" ? route.continue() : route.fulfill({ status: 200, body: '{"status":true}' });
      });
      const appKey = uniqueApp("backslash");
      const r = await page.evaluate(async (appKey) => {
        try {
          const t = new window.lib.CoolaTracker({
            appKey,
            endpoint: "http://evil.com\\@localhost/v3/{appKey}/track",
            flushIntervalMs: 0,
          });
          t.track("e", {});
          await t.flush();
          return { accepted: true };
        } catch (e) {
          return { accepted: false, code: e.code, field: e.field };
        }
      }, appKey);
      assert.deepEqual(
        r,
        { accepted: false, code: "invalid_option", field: "endpoint" },
        `accepted; the browser contacted ${JSON.stringify(contacted)}`,
      );
    } finally {
      await page.context().close();
    }
  },
);

test("a path endpoint (a first-party collector): refused outside a page, in a page only the page's own origin is contacted", async () => {
  assert.throws(
    () => new lib.CoolaTracker({ endpoint: "/collect", flushIntervalMs: 0 }),
    (e) => e.code === "invalid_option" && e.field === "endpoint",
  );
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/app.html`);
    assert.equal((await pageResult(page)).ok, true);
    const contacted = [];
    await page.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (u.hostname !== "127.0.0.1") contacted.push(u.href);
      return u.hostname === "127.0.0.1" ? route.continue() : route.fulfill({ status: 200, body: '{"status":true}' });
    });
    const app = uniqueApp("path");
    const r = await page.evaluate(async (app) => {
      const refused = [];
      for (const endpoint of ["/\\evil.com/collect", "/ collect", "//evil.com/collect"]) {
        try {
          new window.lib.CoolaTracker({ endpoint, flushIntervalMs: 0 });
        } catch (e) {
          refused.push([endpoint, e.code, e.field]);
        }
      }
      const t = new window.lib.CoolaTracker({ endpoint: `/v3/${app}/track`, flushIntervalMs: 0, persist: false });
      t.track("first_party", { user_id: "u" });
      return { refused, report: await t.flush() };
    }, app);
    assert.deepEqual(r.refused, [
      ["/\\evil.com/collect", "invalid_option", "endpoint"],
      ["/ collect", "invalid_option", "endpoint"],
      ["//evil.com/collect", "invalid_option", "appKey"],
    ]);
    assert.equal(r.report.sent, 1);
    assert.deepEqual(contacted, []);
    assert.equal(collector.events({ app }).length, 1, "sent to the page's own origin");
  } finally {
    await page.context().close();
  }
});
