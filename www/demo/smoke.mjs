#!/usr/bin/env node
// Smoke test of the demo page in headless Chromium, against a collector of its own.
//
//   node www/demo/smoke.mjs [--screenshot docs/demo.png [--full-page]] [--headed]
//                           [--url http://127.0.0.1:8787]
//
// Starts its own collector on a free port, serving www/demo and pkg/ at /pkg. With --url
// it drives an already running demo server instead (`make demo`), over HTTP; it resets
// that collector first and last. Needs the built package in pkg/ (`make build`), Debian's
// /usr/bin/chromium (or $CHROMIUM) and playwright-core from tools/node_modules.
// Exits non-zero on failure.

import path from "node:path";
import fs from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startCollector } from "../collector/collector.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const { values: args } = parseArgs({
  options: {
    screenshot: { type: "string" }, "full-page": { type: "boolean" }, headed: { type: "boolean" }, url: { type: "string" },
  },
});

const APP = "smoke-app-key";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let step = "start";
const log = (msg) => console.log(`  ok  ${msg}`);
function check(cond, msg, detail) {
  if (!cond) throw new Error(`${msg}${detail === undefined ? "" : `\n      got: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`}`);
  log(msg);
}
async function waitFor(fn, what, timeoutMs = 8000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e.message; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last: ${JSON.stringify(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The same inspection calls as startCollector's handle, over HTTP, for a server already running. */
async function remoteCollector(url) {
  const base = url.replace(/\/+$/, "");
  const get = async (p, init) => {
    const r = await fetch(`${base}${p}`, init);
    if (!r.ok) throw new Error(`${p}: HTTP ${r.status}`);
    return r.json();
  };
  const c = {
    url: base,
    events: ({ app } = {}) => get(`/events${app ? `?app=${encodeURIComponent(app)}` : ""}`),
    stats: () => get("/stats"),
    requests: () => get("/requests"),
    reset: () => get("/reset", { method: "POST" }),
    close: () => c.reset(),
  };
  await c.reset();
  await get("/control", { method: "POST", body: JSON.stringify({ fail500: 0, fail429: 0, drop: 0, delayMs: 0 }) });
  return c;
}

async function main() {
  const pkgEntry = path.join(root, "pkg", "web", "coola_tracker.js");
  await fs.access(pkgEntry).catch(() => { throw new Error(`${pkgEntry} is missing: run \`make build\` first`); });
  const { chromium } = await import(path.join(root, "tools", "node_modules", "playwright-core", "index.mjs"));

  const collector = args.url ? await remoteCollector(args.url) : await startCollector({
    port: 0, host: "127.0.0.1", static: path.join(root, "www", "demo"), mounts: { "/pkg": path.join(root, "pkg") },
  });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: !args.headed,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"]
      .filter((a) => !(args.headed && a === "--headless=new")),
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10000);
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // The browser logs every non-2xx answer and dropped connection itself: those are expected here.
      if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    const text = (sel) => page.locator(sel).innerText();
    // "flush() → { sent: 3, failed: 0, pending: 0, requests: 1 }" -> the FlushReport object.
    const report = async () => JSON.parse((await text("#flush-report")).replace(/^\w+\(\) → /, "")
      .replace(/(\w+):/g, '"$1":'));
    const pending = async () => Number(await page.locator("#pending").textContent());

    step = "load";
    await page.goto(`${collector.url}/`);
    await page.waitForSelector("body[data-ready]", { timeout: 15000 });
    check(await page.getAttribute("body", "data-ready") === "1", "the page loads the wasm library",
      await text("#lib-status"));
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
      .filter((e) => !e.labels?.length && !e.getAttribute("aria-label")).map((e) => e.id || e.name || e.outerHTML));
    check(unlabelled.length === 0, "every form control has a label", unlabelled);
    check((await page.inputValue("#opt-app-key")) === "demo-app-key", "the app key defaults to demo-app-key");
    await waitFor(async () => (await text("#collector-status")).includes("collector:") &&
      !(await text("#collector-status")).includes("unreachable"), "the collector status");

    step = "create";
    await page.fill("#opt-app-key", APP);
    await page.fill("#opt-batch-size", "10");
    await page.fill("#opt-interval", "0"); // no timer: nothing leaves before Flush
    await page.fill("#opt-retries", "2");
    check((await text("#endpoint-preview")) === `${collector.url}/v3/${APP}/track`, "the endpoint is on the page's origin");
    await page.click("#create-btn");
    check((await text("#setup-result")) === "Tracker created.", "the tracker is created", await text("#setup-result"));

    step = "track";
    const ids = [];
    const trackAndReadId = async (what) => {
      await page.click("#track-btn");
      const id = await text("#event-id").catch(() => "");
      check(UUID.test(id), `${what}: track() returns an event_id (${id})`, await text("#track-result"));
      ids.push(id);
    };
    // 1: the pre-filled rows (string, number, boolean).
    await page.fill("#event-name", "page_view");
    await trackAndReadId("rows event");
    // 2: a new row of type null, which the library leaves out.
    await page.fill("#event-name", "add_to_cart");
    await page.click("#add-row");
    const last = page.locator("#prop-rows tr").last();
    await last.locator(".prop-name").fill("coupon");
    await last.locator(".prop-type").selectOption("null");
    await trackAndReadId("rows event with a null");
    // 3: the JSON editor.
    await page.check("#mode-json");
    check((await page.inputValue("#props-json")).includes('"price": 9.99'), "switching to JSON carries the rows over");
    await page.fill("#event-name", "signup");
    await page.fill("#props-json", JSON.stringify({ plan: "pro", seats: 3, trial: false }));
    await trackAndReadId("JSON event");
    check(await pending() === 3, "the queue shows 3 pending", await pending());
    check((await collector.stats()).requests === 0, "nothing was sent before Flush", await collector.stats());

    step = "flush";
    await page.click("#flush-btn");
    await waitFor(async () => (await text("#flush-report")).startsWith("flush() →"), "the FlushReport");
    const r1 = await report();
    check(r1.sent === 3 && r1.failed === 0 && r1.pending === 0 && r1.requests === 1,
      "Flush reports { sent: 3, failed: 0, pending: 0, requests: 1 }", r1);
    const stored = await collector.events({ app: APP });
    check(stored.length === 3, "the collector stored 3 events", stored);
    check(stored.map((e) => e.event_id).join() === ids.join(), "with the event_ids the page showed", stored.map((e) => e.event_id));
    const [e1, e2, e3] = stored;
    check(e1.event_name === "page_view" && e1.path === "/pricing" && e1.price === 9.99 && e1.logged_in === "true",
      "types survive: string, number, boolean as \"true\"", e1);
    check(e2.event_name === "add_to_cart" && !("coupon" in e2), "a null property is left out", e2);
    check(e3.event_name === "signup" && e3.seats === 3 && e3.trial === "false", "the JSON event arrives as typed", e3);
    check(stored.every((e) => typeof e.user_id === "string" && e.user_id && /^\d{13}$/.test(String(e.event_timestamp_epoch))),
      "the tracker filled user_id and a 13-digit event_timestamp_epoch", stored);
    const firstRow = page.locator('#requests-body tr[data-seq="1"]');
    await waitFor(async () => (await firstRow.count()) === 1, "the request in the requests table");
    const cells = await firstRow.locator("td").allInnerTexts();
    check(cells[2] === "3" && cells[4] === "200" && Number(cells[3]) === (await collector.requests())[0].bytes,
      "the requests table shows 3 events, the bytes and 200", cells);
    await waitFor(async () => { const t = await text("#events"); return ids.every((id) => t.includes(id)); },
      "the stored events panel");
    log("the stored events panel shows them");

    step = "503";
    await page.getByRole("button", { name: "Next: 503" }).click();
    await waitFor(async () => (await text("#fail-next")) === "503", "the 503 to be queued");
    await page.fill("#event-name", "retry_me");
    await page.fill("#props-json", "{}");
    await trackAndReadId("event before a 503");
    await page.click("#flush-btn");
    await waitFor(async () => (await text("#flush-report")).startsWith("flush() →"), "the FlushReport");
    const r2 = await report();
    check(r2.sent === 0 && r2.failed === 0 && r2.pending === 1, "a 503 leaves the event queued (pending, not failed)", r2);
    await waitFor(async () => (await collector.events({ app: APP })).length === 4, "the tracker's own retry", 15000);
    log("the tracker retried by itself and the collector has 4 events");
    await waitFor(async () => (await pending()) === 0, "pending back to 0");
    const statuses = await page.locator("#requests-body tr td:nth-child(5)").allInnerTexts();
    check(statuses.includes("503"), "the requests table shows the 503", statuses);

    step = "onError";
    await page.getByRole("button", { name: "Next: 200 status:false" }).click();
    await waitFor(async () => (await text("#fail-next")).includes("status:false"), "the rejection to be queued");
    await page.fill("#event-name", "doomed");
    await trackAndReadId("event before a refusal");
    await page.click("#flush-btn");
    await waitFor(async () => (await text("#error-log")).includes("request_failed"), "onError in the log");
    log("onError reports request_failed in the log panel");
    check(await pending() === 0, "the refused event left the queue");

    step = "bad events";
    await page.click("#bad-seconds");
    const outcome = async () => ({ answer: await text("#outcome-answer"), mark: await page.locator("#outcome-event mark").allInnerTexts() });
    let o = await outcome();
    check(o.answer.includes("invalid_timestamp") && o.answer.includes("event_timestamp_epoch") && /1000/.test(o.answer),
      "a 10-digit timestamp shows invalid_timestamp on event_timestamp_epoch", o);
    await page.click("#bad-nested");
    o = await outcome();
    check(o.answer.includes("nested_property") && o.answer.includes("cart") && o.mark.some((m) => m.includes('"cart"')),
      "a nested object shows nested_property on cart, marked in the event beside it", o);
    check(await page.locator("#track-result.is-error").count() === 1, "the result is shown as an error");
    check(await pending() === 0, "bad events are not queued");

    step = "session";
    const session = await text("#session-id");
    check(UUID.test(session), `the queue card shows the session (${session})`);
    check(stored.every((e) => e.session_id === session), "every event carries that session_id", stored.map((e) => e.session_id));

    step = "consent";
    await page.check("#mode-json");
    await page.fill("#props-json", "{}");
    await page.fill("#event-name", "queued_then_dropped");
    await trackAndReadId("event before opting out");
    const requestsBefore = (await collector.stats()).requests;
    await page.uncheck("#consent");
    check(await pending() === 0, "unchecking consent (optOut) empties the queue", await pending());
    await page.fill("#event-name", "while_opted_out");
    await page.click("#track-btn");
    check((await text("#outcome-answer")).includes("opted out"), "an event tracked while opted out is not queued",
      await text("#outcome-answer"));
    await page.click("#flush-btn");
    await waitFor(async () => (await text("#flush-report")).startsWith("flush() →"), "the FlushReport");
    check((await collector.stats()).requests === requestsBefore, "nothing was sent while opted out");
    await page.check("#consent");
    check(await page.evaluate(() => localStorage.getItem("coola:consent")) === "in", "optIn() is remembered");

    step = "page views";
    await page.check("#opt-page-views");
    await page.click("#create-btn");
    // The old tracker is shut down first; the new one queues the page view of the page as it is.
    await waitFor(async () => (await pending()) === 1, "the new tracker's first page view");
    await page.getByRole("button", { name: "Navigate: pricing" }).click();
    await page.getByRole("button", { name: "Navigate: #faq" }).click();
    await waitFor(async () => (await pending()) === 3, "three page views queued", 5000);
    await page.click("#flush-btn");
    await waitFor(async () => (await collector.events({ app: APP })).filter((e) => e.event_name === "page_view" && !e.path).length === 3,
      "the page views at the collector");
    const views = (await collector.events({ app: APP })).filter((e) => e.event_name === "page_view" && !e.path);
    const where = views.map((e) => [new URL(e.page_url).search + new URL(e.page_url).hash, e.referring_url ? new URL(e.referring_url).search : ""]);
    check(JSON.stringify(where) === JSON.stringify([["", ""], ["?view=pricing", ""], ["?view=pricing#faq", "?view=pricing"]]),
      "page views at start and on each pushState / hash change, the previous URL as referring_url", where);

    if (args.screenshot) {
      step = "screenshot";
      // A calmer moment for the picture: the last request settled, the panels polled.
      await page.waitForTimeout(1200);
      await page.evaluate(() => window.scrollTo(0, 0));
      const file = path.resolve(process.cwd(), args.screenshot);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await page.screenshot({ path: file, fullPage: !!args["full-page"] });
      log(`screenshot written to ${path.relative(process.cwd(), file)}`);
    }

    step = "shutdown";
    await page.click("#shutdown-btn");
    await waitFor(async () => (await text("#flush-report")).startsWith("shutdown() →"), "the shutdown report");
    await page.check("#mode-json");
    await page.fill("#event-name", "too_late");
    await page.fill("#props-json", "{}");
    await page.click("#track-btn");
    check((await text("#outcome-answer")).includes("tracker_closed"), "track after Shutdown shows tracker_closed");

    step = "reset";
    await page.click("#reset-btn");
    await waitFor(async () => (await collector.stats()).events === 0 && (await text("#events-count")) === "0 events stored", "the reset");
    log("Reset empties the collector and the panel");

    check(problems.length === 0, "no page errors or console errors", problems);
  } finally {
    await browser.close().catch(() => {});
    await collector.close();
  }
}

main().then(
  () => console.log("smoke: demo page OK"),
  (e) => {
    console.error(`smoke: FAILED at ${step}: ${e.message}`);
    process.exitCode = 1;
  },
);
