// An outbound click right after a batch went out: the page's own events are
// sent once each (the batch with keepalive from the start, the click's event
// by the page-hide flush), and the next page's claim of what had no answer
// yet sends each at most once more. Counted per event_id and per sending page
// by a proxy in front of the local collector (the pages and the API share
// its origin, so each request's Referer names the page that sent it).

import assert from "node:assert/strict";
import http from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { FIXTURES, ROOT, chromium, newPage, project, startCollector, waitFor } from "./helpers.mjs";

const { decodePayload } = await import(pathToFileURL(join(ROOT, "www", "collector", "collector.mjs")).href);

let app;
let collector;
let proxy;
let browser;
/** Every event copy that reached the proxy: { id, page } (page: the query of the sending page). */
const copies = [];

function startProxy(target) {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    if (req.method === "POST" && /\/track$/.test(req.url)) {
      const page = new URL(req.headers.referer ?? "http://x/").search;
      for (const e of decodePayload(body, req.headers["content-type"]).events ?? []) copies.push({ id: e.event_id, page });
    }
    try {
      const r = await fetch(target + req.url, {
        method: req.method,
        headers: req.headers["content-type"] ? { "content-type": req.headers["content-type"] } : {},
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      });
      const headers = { "access-control-allow-origin": "*" };
      for (const h of ["content-type", "retry-after"]) if (r.headers.has(h)) headers[h] = r.headers.get(h);
      res.writeHead(r.status, headers).end(Buffer.from(await r.arrayBuffer()));
    } catch (_) {
      res.destroy();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  app = await project();
  [collector, browser] = await Promise.all([
    startCollector({ port: 0, static: join(FIXTURES, "pages"), mounts: { "/pkg": app.pkgDir } }),
    chromium(),
  ]);
  proxy = await startProxy(collector.url);
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (proxy ? proxy.close(r) : r()));
  await collector?.close();
  app?.remove();
});

test("outbound click before the answer: no event sent twice by its page, at most once more by the next", async () => {
  const key = "outbound";
  collector.control({ delayMs: 600 }); // every answer comes after the click
  const url = `http://127.0.0.1:${proxy.address().port}`;
  const page = await newPage(browser);
  try {
    await page.goto(`${url}/outbound.html?app=${key}&n=4`);
    await page.waitForFunction(() => window.ready && window.sent, null, { timeout: 10_000 });
    // The batch is on its way: the visitor follows the link.
    await waitFor(() => copies.length >= 4, { what: "the batch at the proxy" });
    await Promise.all([page.waitForURL(/n=0/), page.click("#out")]);
    await page.waitForFunction(() => window.ready, null, { timeout: 10_000 });
    await waitFor(() => collector.events({ app: key }).length >= 5, { timeout: 15_000, what: "the five events" });
    await waitFor(async () => (await page.evaluate(() => window.tracker.pending)) === 0, { what: "the claim acknowledged" });
    await new Promise((r) => setTimeout(r, 700)); // late copies, if any

    const ids = [...new Set(collector.events({ app: key }).map((e) => e.event_id))];
    assert.equal(ids.length, 5, "every event delivered");
    const count = (id, page) => copies.filter((c) => c.id === id && (page === undefined || c.page === page)).length;
    for (const id of ids) {
      assert.equal(count(id, `?app=${key}&n=4`), 1, `${id}: sent once by its own page`);
      assert.ok(count(id, `?app=${key}&n=0`) <= 1, `${id}: at most once more by the next page's claim`);
    }
    assert.ok(copies.length <= 10, `${copies.length} copies of 5 events`);
  } finally {
    collector.control({ delayMs: 0 });
    await page.context().close();
  }
});
