#!/usr/bin/env node
// Fault-injection suite, "no event lost": the tracker against a collector that fails a large
// share of its requests, restarts, is down, and a localStorage full of garbage.
//
//   node tests/soak/soak.mjs            short run (what `make test-soak` asserts through soak.test.mjs)
//   node tests/soak/soak.mjs --long     long run (`make soak`)
//   options: --only node,reload,down,garbage,walk   --seed N   --json   (env SOAK_PKG=dir: another pkg/ build)
//
// Environments:
//   node     Node tracker; collector with 30 % 500, 10 % 429 (Retry-After 1), 5 % dropped
//            connections, 0-100 ms delay; restarted half-way (refused connections meanwhile).
//   reload   Headless Chromium page tracking in a loop, reloaded several times; unacknowledged
//            events are claimed from localStorage by the reloaded page.
//   down     Chromium: collector down, events queued, page reloaded, collector comes up: the
//            reloaded page's tracker claims the stored events and they arrive.
//   garbage  Chromium: garbage under the tracker's storage keys and localStorage filled to its
//            quota before the tracker exists: it keeps working, reports storage_error, and
//            never sends the garbage. Run twice: filled with 1 MiB strings until setItem throws
//            ("big": some room is left), and then to the very last character ("exact").
//   walk     Chromium: a visitor walks through `pages` pages of the site, each tracking `events`
//            events (the last one in the click handler of an outbound link, whose click loads the
//            next page while a batch is on its way); the collector answers after 200-300 ms, so
//            the answers come after the page is gone. Figure: deliveries per event (perEvent).
//
// Figures per environment: tracked, delivered (unique tracked event_ids at the collector), lost
// (tracked - delivered - reported), reported (events the tracker gave up on and reported through
// onError), duplicates (copies the collector received beyond the first), requests (made by the
// tracker, refused ones included), retries (requests beyond the minimum ceil(tracked / batchSize)),
// wall time.
//
// Importable: runNode, runBrowserReload, runBrowserDown, runBrowserGarbage, runSuite, formatTable.

import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
// SOAK_PKG=dir runs the suite against another build of the package (e.g. a patched one).
const PKG = process.env.SOAK_PKG ? path.resolve(process.env.SOAK_PKG) : path.join(ROOT, 'pkg');
const PAGE_DIR = path.join(HERE, 'page');

const { startCollector } = await import(pathToFileURL(path.join(ROOT, 'www/collector/collector.mjs')).href);

/** The collector's failure injection in every environment. */
export const FAILURES = Object.freeze({ fail500: 0.3, fail429: 0.1, retryAfter: 1, drop: 0.05, delayMs: [0, 100] });
/** Options that let the tracker ride out those failures. */
export const TRACKER_OPTIONS = Object.freeze({
  retryBaseMs: 50, retryMaxMs: 500, maxRetries: 50, batchSize: 50, flushIntervalMs: 100,
});
const APP_KEY = 'soak';
/** Error codes that mean events were given up on (and so are not "lost" silently). */
const GIVE_UP_CODES = new Set(['request_failed', 'queue_full', 'event_expired']);

export const PROFILES = Object.freeze({
  short: {
    node: { events: 2000, durationMs: 4000, downMs: 1000, drainMs: 60000 },
    reload: { rate: 150, reloads: 4, segmentMs: 1500, drainMs: 60000 },
    down: { events: 200, downMs: 1500, drainMs: 30000 },
    garbage: { events: 300, drainMs: 30000 },
    walk: { pages: 20, events: 5, drainMs: 30000 },
  },
  long: {
    node: { events: 20000, durationMs: 120000, downMs: 3000, drainMs: 300000 },
    reload: { rate: 200, reloads: 10, segmentMs: 4000, drainMs: 300000 },
    down: { events: 2000, downMs: 5000, drainMs: 120000 },
    garbage: { events: 3000, drainMs: 120000 },
    walk: { pages: 20, events: 5, drainMs: 60000 },
  },
});

export const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, { timeoutMs, intervalMs = 50, what = 'condition' }) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** A TCP port that nothing listens on (for now). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Collector options with the standard failure injection. */
function collectorOptions(seed, extra = {}) {
  return { host: '127.0.0.1', appKey: APP_KEY, ...FAILURES, seed, ...extra };
}

/**
 * The figures and checks of one environment.
 * trackedIds: every event_id the tracker returned; instances: the collectors that received them
 * (one per run of the collector: ids seen by more than one count as duplicates too);
 * errors: what onError received; requests: requests the tracker made.
 */
function tally({ env, trackedIds, instances, errors, requests, batchSize, wallMs, extra = {}, checks = [] }) {
  const tracked = new Set(trackedIds);
  const seen = new Map();
  let duplicates = 0;
  let rejected = 0;
  let collectorRequests = 0;
  for (const c of instances) {
    const st = c.stats();
    duplicates += st.duplicates;
    rejected += st.rejected_requests;
    collectorRequests += st.requests;
    for (const e of c.events({ app: APP_KEY })) {
      const id = e.event_id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  for (const n of seen.values()) duplicates += n - 1; // the same id at two collector runs
  let delivered = 0;
  for (const id of tracked) if (seen.has(id)) delivered++;
  const unknown = [...seen.keys()].filter((id) => !tracked.has(id));
  const reported = errors.filter((e) => GIVE_UP_CODES.has(e.code)).reduce((s, e) => s + (e.count ?? 1), 0);
  const minimum = Math.ceil(tracked.size / batchSize);
  const retries = Math.max(0, requests - minimum);
  const result = {
    env,
    tracked: tracked.size,
    delivered,
    lost: tracked.size - delivered - reported,
    reported,
    duplicates,
    requests,
    retries,
    wallMs: Math.round(wallMs),
    unknown: unknown.length,
    collectorRequests,
    rejected,
    errorCodes: countCodes(errors),
    ...extra,
  };
  const all = [
    { name: 'every tracked event delivered (lost = 0)', ok: result.lost === 0, detail: `lost ${result.lost}` },
    { name: 'nothing given up (reported = 0)', ok: result.reported === 0, detail: `reported ${result.reported}` },
    { name: 'no event the tracker did not track', ok: unknown.length === 0, detail: unknown.slice(0, 3).join(', ') },
    { name: 'no request refused by the collector (400/413/415)', ok: rejected === 0, detail: `rejected ${rejected}` },
    {
      name: 'duplicates only from retried requests (duplicates <= retries x batchSize)',
      ok: duplicates <= retries * batchSize,
      detail: `${duplicates} > ${retries} x ${batchSize}`,
    },
    { name: 'requests >= minimum', ok: trackedIds.length === 0 || requests >= minimum, detail: `${requests} < ${minimum}` },
    ...checks,
  ];
  result.checks = all;
  result.failed = all.filter((c) => !c.ok);
  result.ok = result.failed.length === 0;
  return result;
}

function countCodes(errors) {
  const out = {};
  for (const e of errors) out[e.code] = (out[e.code] ?? 0) + 1;
  return out;
}

// ------------------------------------------------------------------ 1. Node

/**
 * Node tracker, steady pace, collector restarted half-way.
 * @param {{events?: number, durationMs?: number, downMs?: number, drainMs?: number, seed?: number, log?: Function}} o
 */
export async function runNode(o = {}) {
  const { events = 2000, durationMs = 4000, downMs = 1000, drainMs = 60000, seed = 1, log = () => {} } = o;
  const t0 = performance.now();
  const { CoolaTracker } = await import(pathToFileURL(path.join(PKG, 'node/index.mjs')).href);
  let c1 = await startCollector(collectorOptions(seed));
  const port = c1.port;
  const instances = [c1];

  // Count every request the tracker makes, refused connections included.
  const realFetch = globalThis.fetch;
  let requests = 0;
  let refused = 0;
  let down = false;
  let refusedWhileDown = 0;
  globalThis.fetch = (input, init) => {
    requests++;
    const p = realFetch(input, init);
    p.catch(() => {
      refused++;
      if (down) refusedWhileDown++;
    });
    return p;
  };
  const errors = [];
  const trackedIds = [];
  let tracker;
  let restartAt = null;
  let pendingAtEnd = null;
  let flushes = 0;
  let peakPending = 0;
  try {
    tracker = new CoolaTracker({
      appKey: APP_KEY,
      endpoint: `http://127.0.0.1:${port}/v3/{appKey}/track`,
      ...TRACKER_OPTIONS,
      // The collector takes ~120 events/s here (one request at a time; 10 % of them wait 1 s for
      // Retry-After): the queue is sized for every event, so that an overflow (queue_full, a
      // separate and reported path) cannot stand in for a loss.
      maxQueueSize: Math.max(10000, events),
      onError: (e) => errors.push({ code: e.code, count: e.count ?? null, status: e.status ?? null, message: e.message }),
    });
    const half = Math.floor(events / 2);
    let restart = null;
    const start = performance.now();
    for (let i = 0; i < events;) {
      // Steady pace: as many events as the clock says are due.
      const due = Math.min(events, Math.floor(((performance.now() - start) / durationMs) * events) + 1);
      while (i < due) {
        trackedIds.push(tracker.track('soak_event', { i, phase: i < half ? 'before' : 'after', ok: true }));
        i++;
        peakPending = Math.max(peakPending, tracker.pending);
        if (i === half) {
          restartAt = trackedIds.length;
          // Close the collector (keep what it accepted), start a new one on the same port later.
          restart = (async () => {
            await c1.close();
            down = true;
            log(`node: collector closed after ${half} events; down for ${downMs} ms`);
            await sleep(downMs);
            const c2 = await startCollector(collectorOptions(seed + 1, { port }));
            down = false;
            instances.push(c2);
            log(`node: collector back (${refusedWhileDown} requests refused meanwhile)`);
          })();
        }
      }
      await sleep(5);
    }
    await restart;
    log(`node: ${events} tracked, pending ${tracker.pending} (peak ${peakPending}); draining`);
    const end = Date.now() + drainMs;
    while (tracker.pending > 0 && Date.now() < end) {
      await tracker.flush();
      flushes++;
      if (tracker.pending > 0) await sleep(50);
    }
    pendingAtEnd = tracker.pending;
    await tracker.shutdown();
  } finally {
    globalThis.fetch = realFetch;
  }
  await sleep(200); // let late answers settle
  const result = tally({
    env: 'node',
    trackedIds,
    instances,
    errors,
    requests,
    batchSize: TRACKER_OPTIONS.batchSize,
    wallMs: performance.now() - t0,
    extra: { pendingAtEnd, peakPending, networkErrors: refused, refusedWhileDown, flushes, restartAfter: restartAt },
    checks: [
      { name: 'pending is 0 after the final flushes', ok: pendingAtEnd === 0, detail: `pending ${pendingAtEnd}` },
      { name: 'the collector was restarted', ok: instances.length === 2, detail: `${instances.length} runs` },
      { name: 'requests were refused while it was down', ok: refusedWhileDown > 0, detail: 'none tried' },
    ],
  });
  await Promise.all(instances.map((c) => c.close()));
  return result;
}

// ------------------------------------------------------------------ browsers

/** Launches Debian's Chromium through playwright-core (never a downloaded browser). */
export async function launchBrowser() {
  const { chromium } = await import(pathToFileURL(path.join(ROOT, 'tools/node_modules/playwright-core/index.mjs')).href);
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

function pageCollectorOptions(seed, extra = {}) {
  return collectorOptions(seed, { static: PAGE_DIR, mounts: { '/pkg': PKG }, ...extra });
}

async function openPage(context, url) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(url);
  await ready(page);
  return { page, problems };
}

async function ready(page) {
  await page.waitForFunction(() => window.soak && (window.soak.ready || window.soak.failed), null, { timeout: 20000 });
  const failed = await page.evaluate(() => window.soak.failed);
  if (failed) throw new Error(`soak page failed to start: ${failed}`);
}

/** What every page of the tab did, read from the last one. */
async function history(page) {
  const pages = await page.evaluate(() => window.soak.history());
  return {
    pages: pages.length,
    trackedIds: pages.flatMap((p) => p.tracked),
    errors: pages.flatMap((p) => p.errors),
    requests: pages.reduce((s, p) => s + p.requests, 0),
  };
}

/** Real network errors are expected (refused, dropped): only other console errors are problems. */
function unexpected(problems) {
  return problems.filter((p) => !/Failed to load resource|ERR_CONNECTION|ERR_EMPTY_RESPONSE|net::|status of (429|500)/.test(p));
}

/**
 * 2. A page tracking in a loop, reloaded `reloads` times; the last page drains.
 * @param {{browser?: object, rate?: number, reloads?: number, segmentMs?: number, drainMs?: number, seed?: number, log?: Function}} o
 */
export async function runBrowserReload(o = {}) {
  const { rate = 150, reloads = 4, segmentMs = 1500, drainMs = 60000, seed = 2, log = () => {} } = o;
  const t0 = performance.now();
  const browser = o.browser ?? await launchBrowser();
  const collector = await startCollector(pageCollectorOptions(seed));
  const context = await browser.newContext();
  try {
    const { page, problems } = await openPage(context, `${collector.url}/index.html?rate=${rate}`);
    const atReload = [];
    for (let r = 0; r < reloads; r++) {
      await sleep(segmentMs);
      // What is queued and unacknowledged right now must survive the reload.
      atReload.push(await page.evaluate(() => ({ pending: window.soak.tracker.pending, stored: window.soak.storedKeys().length })));
      await page.reload();
      await ready(page);
      const claimed = await page.evaluate(() => window.soak.claimed);
      atReload[r].claimed = claimed;
      log(`reload ${r + 1}: pending ${atReload[r].pending}, stored ${atReload[r].stored}, claimed ${claimed}`);
    }
    await sleep(segmentMs);
    const drained = await page.evaluate((ms) => window.soak.drain(ms), drainMs);
    await sleep(300); // keepalive requests of unloaded pages may still be on their way
    const h = await history(page);
    const storedLeft = await page.evaluate(() => window.soak.storedKeys().length);
    const claimedTotal = atReload.reduce((s, a) => s + (a.claimed ?? 0), 0);
    const bad = unexpected(problems);
    return tally({
      env: 'browser reload',
      trackedIds: h.trackedIds,
      instances: [collector],
      errors: h.errors,
      requests: h.requests,
      batchSize: TRACKER_OPTIONS.batchSize,
      wallMs: performance.now() - t0,
      extra: { pages: h.pages, pendingAtEnd: drained.pending, storedLeft, claimedTotal, atReload },
      checks: [
        { name: 'pending is 0 after the final flushes', ok: drained.pending === 0, detail: `pending ${drained.pending}` },
        { name: `the page was reloaded ${reloads} times`, ok: h.pages === reloads + 1, detail: `${h.pages} pages` },
        {
          name: 'unacknowledged events were claimed by reloaded pages',
          ok: claimedTotal > 0,
          detail: 'no reloaded page claimed anything',
        },
        { name: 'no stored event left in localStorage', ok: storedLeft === 0, detail: `${storedLeft} keys` },
        { name: 'no page error', ok: bad.length === 0, detail: bad.slice(0, 3).join(' | ') },
      ],
    });
  } finally {
    await context.close();
    await collector.close();
    if (!o.browser) await browser.close();
  }
}

/**
 * 3. Collector down: events queued in localStorage, page reloaded, collector comes up on the
 * endpoint's port, the reloaded page's tracker claims the events and they arrive.
 * The page itself is served from a second collector (another origin), which takes no events.
 */
export async function runBrowserDown(o = {}) {
  const { events = 200, downMs = 1500, drainMs = 30000, seed = 3, log = () => {} } = o;
  const t0 = performance.now();
  const browser = o.browser ?? await launchBrowser();
  const web = await startCollector({ host: '127.0.0.1', static: PAGE_DIR, mounts: { '/pkg': PKG } });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}/v3/{appKey}/track`;
  const context = await browser.newContext();
  let collector = null;
  try {
    const { page, problems } = await openPage(context, `${web.url}/index.html?endpoint=${encodeURIComponent(endpoint)}`);
    await page.evaluate((n) => window.soak.track(n), events);
    await sleep(downMs);
    const before = await page.evaluate(() => ({
      pending: window.soak.tracker.pending, stored: window.soak.storedKeys().length, requests: window.soak.requests,
    }));
    log(`down: ${events} tracked, pending ${before.pending}, stored ${before.stored}, ${before.requests} refused requests`);
    await page.reload();
    await ready(page);
    const after = await page.evaluate(() => ({
      claimed: window.soak.claimed, pending: window.soak.tracker.pending, stored: window.soak.storedKeys().length,
    }));
    log(`down: reloaded page claimed ${after.claimed}; collector coming up on :${port}`);
    collector = await startCollector(collectorOptions(seed, { port }));
    // The tracker is not told: its own retry timer must find the collector.
    await waitFor(() => collector.events({ app: APP_KEY }).length >= events, {
      // Nothing claimed: nothing can arrive, fail fast.
      timeoutMs: after.claimed > 0 ? drainMs : 3000, what: 'the claimed events to arrive',
    }).catch((e) => log(`down: ${e.message}`));
    const arrivedBy = Math.round(performance.now() - t0);
    const drained = await page.evaluate((ms) => window.soak.drain(ms), drainMs);
    await sleep(200);
    const h = await history(page);
    const storedLeft = await page.evaluate(() => window.soak.storedKeys().length);
    const bad = unexpected(problems);
    return tally({
      env: 'browser collector down',
      trackedIds: h.trackedIds,
      instances: [collector],
      errors: h.errors,
      requests: h.requests,
      batchSize: TRACKER_OPTIONS.batchSize,
      wallMs: performance.now() - t0,
      extra: { before, after, pendingAtEnd: drained.pending, storedLeft, webRequests: web.stats().requests, arrivedBy },
      checks: [
        { name: 'nothing acknowledged while down', ok: before.pending === events, detail: `pending ${before.pending}` },
        { name: 'every event stored in localStorage while down', ok: before.stored === events, detail: `stored ${before.stored}` },
        { name: 'the reloaded page claimed every stored event', ok: after.claimed === events, detail: `claimed ${after.claimed}` },
        { name: 'the page tracked nothing after the reload', ok: h.trackedIds.length === events, detail: `${h.trackedIds.length}` },
        { name: 'pending is 0 at the end', ok: drained.pending === 0, detail: `pending ${drained.pending}` },
        { name: 'no stored event left in localStorage', ok: storedLeft === 0, detail: `${storedLeft} keys` },
        { name: 'no track request reached the page server', ok: web.stats().requests === 0, detail: `${web.stats().requests}` },
        { name: 'no page error', ok: bad.length === 0, detail: bad.slice(0, 3).join(' | ') },
      ],
    });
  } finally {
    await context.close();
    await web.close();
    if (collector) await collector.close();
    if (!o.browser) await browser.close();
  }
}

/**
 * 4. Garbage under the tracker's keys and a full localStorage before the tracker exists.
 * `fill`: "exact" fills to the last character, "big" writes 1 MiB strings until setItem throws.
 */
export async function runBrowserGarbage(o = {}) {
  const { events = 300, drainMs = 30000, seed = 4, fill = 'exact', log = () => {} } = o;
  const t0 = performance.now();
  const browser = o.browser ?? await launchBrowser();
  const collector = await startCollector(pageCollectorOptions(seed));
  const context = await browser.newContext();
  try {
    const { page, problems } = await openPage(context, `${collector.url}/index.html?setup=garbage&fill=${fill}`);
    const setup = await page.evaluate(() => window.soak.setup);
    log(`garbage (${fill}): filled ${setup.chars} chars in ${setup.chunks} strings (${setup.threw}), room left: ${setup.roomLeft}`);
    await page.evaluate((n) => window.soak.track(n), events);
    const drained = await page.evaluate((ms) => window.soak.drain(ms), drainMs);
    // The tracker must keep working after the drain too.
    await page.evaluate(() => window.soak.track(10));
    const drained2 = await page.evaluate((ms) => window.soak.drain(ms), drainMs);
    await sleep(200);
    const h = await history(page);
    const state = await page.evaluate(() => ({
      userId: window.soak.tracker.userId,
      garbageKeys: ['coola:q:deadtab:1', 'coola:q:deadtab:2'].filter((k) => localStorage.getItem(k) !== null),
    }));
    const received = collector.events({ app: APP_KEY });
    const controlChars = /[\u0000-\u001f\u007f]/;
    const garbageSent = received.filter((e) => e.event_id === 'garbage-nested-id' || e.event_name === 'garbage_nested'
      || e.user_id === 'garbage-user' || controlChars.test(String(e.user_id)));
    const storageErrors = h.errors.filter((e) => e.code === 'storage_error');
    const bad = unexpected(problems);
    return tally({
      env: `browser garbage+full (${fill})`,
      trackedIds: h.trackedIds,
      instances: [collector],
      errors: h.errors,
      requests: h.requests,
      batchSize: TRACKER_OPTIONS.batchSize,
      wallMs: performance.now() - t0,
      extra: { setup, storageErrors: storageErrors.length, pendingAtEnd: drained2.pending, userId: state.userId, garbageKeysLeft: state.garbageKeys.length },
      checks: [
        { name: 'localStorage was full (setItem threw)', ok: !!setup.threw, detail: JSON.stringify(setup) },
        { name: 'every event tracked', ok: h.trackedIds.length === events + 10, detail: `${h.trackedIds.length}` },
        { name: 'pending is 0 after the drains', ok: drained.pending === 0 && drained2.pending === 0, detail: `${drained.pending}, ${drained2.pending}` },
        {
          name: 'storage_error reported through onError',
          ok: storageErrors.length > 0,
          detail: `onError got ${JSON.stringify(countCodes(h.errors))}`,
        },
        { name: 'the garbage was never sent', ok: garbageSent.length === 0, detail: JSON.stringify(garbageSent[0]) },
        { name: 'the garbage user id was not used', ok: !controlChars.test(state.userId), detail: JSON.stringify(state.userId) },
        { name: 'no page error', ok: bad.length === 0, detail: bad.slice(0, 3).join(' | ') },
      ],
    });
  } finally {
    await context.close();
    await collector.close();
    if (!o.browser) await browser.close();
  }
}

/**
 * 5. A multi-page walk: on each page `events - 1` events are tracked, a batch goes out, and the
 * visitor clicks the outbound link before its answer (the click tracks one more event). The
 * collector injects no failure, only a delay: every copy beyond the first is a re-send caused by
 * the navigation. perEvent = copies received / events tracked.
 * @param {{browser?: object, pages?: number, events?: number, drainMs?: number, seed?: number, log?: Function}} o
 */
export async function runBrowserWalk(o = {}) {
  const { pages = 20, events = 5, drainMs = 30000, seed = 5, log = () => {} } = o;
  const t0 = performance.now();
  const browser = o.browser ?? await launchBrowser();
  const collector = await startCollector({
    host: '127.0.0.1', appKey: APP_KEY, seed, delayMs: [200, 300], static: PAGE_DIR, mounts: { '/pkg': PKG },
  });
  const context = await browser.newContext();
  try {
    const { page, problems } = await openPage(context, `${collector.url}/walk.html`);
    for (let p = 0; p < pages; p++) {
      const before = await page.evaluate(() => window.soak.requests);
      await page.evaluate((n) => window.soak.track(n), events - 1);
      // A batch is on its way (the 100 ms timer, or the claim of the previous page's events)...
      await page.waitForFunction((b) => window.soak.requests > b, before, { timeout: 10000 });
      // ...and the visitor leaves before its answer.
      await Promise.all([page.waitForURL(/walk\.html/, { waitUntil: 'load' }), page.click('#out')]);
      await ready(page);
    }
    // The page after the last click tracks nothing: it claims and drains.
    const drained = await page.evaluate((ms) => window.soak.drain(ms), drainMs);
    await sleep(500); // keepalive requests of unloaded pages may still be on their way
    const h = await history(page);
    const storedLeft = await page.evaluate(() => window.soak.storedKeys().length);
    const heartbeats = await page.evaluate(() => window.soak.storedKeys('coola:tab:').length);
    const bad = unexpected(problems);
    const st = collector.stats();
    const perEvent = h.trackedIds.length ? (st.events + st.duplicates) / h.trackedIds.length : 0;
    log(`walk: ${h.pages} pages, ${h.trackedIds.length} events, ${st.events + st.duplicates} copies received, ${perEvent.toFixed(2)} per event`);
    return tally({
      env: `browser walk (${pages} pages)`,
      trackedIds: h.trackedIds,
      instances: [collector],
      errors: h.errors,
      requests: h.requests,
      batchSize: TRACKER_OPTIONS.batchSize,
      wallMs: performance.now() - t0,
      extra: { pages: h.pages, perEvent, pendingAtEnd: drained.pending, storedLeft, heartbeats },
      checks: [
        { name: `${pages} pages walked`, ok: h.pages === pages + 1, detail: `${h.pages} pages` },
        { name: `every page tracked ${events} events`, ok: h.trackedIds.length === pages * events, detail: `${h.trackedIds.length}` },
        { name: 'pending is 0 after the final flushes', ok: drained.pending === 0, detail: `pending ${drained.pending}` },
        { name: 'no stored event left in localStorage', ok: storedLeft === 0, detail: `${storedLeft} keys` },
        { name: 'one heartbeat left: the live page\'s', ok: heartbeats === 1, detail: `${heartbeats} keys` },
        { name: 'no page error', ok: bad.length === 0, detail: bad.slice(0, 3).join(' | ') },
      ],
    });
  } finally {
    await context.close();
    await collector.close();
    if (!o.browser) await browser.close();
  }
}

// ------------------------------------------------------------------ suite

export const ENVIRONMENTS = ['node', 'reload', 'down', 'garbage', 'walk'];

/** Runs the chosen environments one after the other; returns their results. */
export async function runSuite({ long = false, only = ENVIRONMENTS, seed = 1, log = () => {} } = {}) {
  const p = long ? PROFILES.long : PROFILES.short;
  const results = [];
  let browser = null;
  try {
    for (const env of only) {
      if (env !== 'node' && !browser) browser = await launchBrowser();
      const common = { seed: seed + results.length, log, browser };
      if (env === 'node') results.push(await runNode({ ...p.node, ...common }));
      else if (env === 'reload') results.push(await runBrowserReload({ ...p.reload, ...common }));
      else if (env === 'down') results.push(await runBrowserDown({ ...p.down, ...common }));
      else if (env === 'walk') results.push(await runBrowserWalk({ ...p.walk, ...common }));
      else if (env === 'garbage') {
        // Filled with 1 MiB strings until setItem throws, then to the very last character.
        results.push(await runBrowserGarbage({ ...p.garbage, fill: 'big', ...common }));
        results.push(await runBrowserGarbage({ ...p.garbage, fill: 'exact', ...common, seed: common.seed + 100 }));
      }
      else throw new Error(`unknown environment ${env} (one of ${ENVIRONMENTS.join(', ')})`);
    }
  } finally {
    if (browser) await browser.close();
  }
  return results;
}

/** The figures as a text table, then any failed check. */
export function formatTable(results) {
  const cols = ['env', 'tracked', 'delivered', 'lost', 'reported', 'duplicates', 'requests', 'retries', 'wall'];
  const rows = results.map((r) => [r.env, r.tracked, r.delivered, r.lost, r.reported, r.duplicates, r.requests, r.retries,
    `${(r.wallMs / 1000).toFixed(1)} s`].map(String));
  const width = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ');
  const out = [line(cols), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  for (const r of results) {
    for (const c of r.failed) out.push(`FAIL ${r.env}: ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
  }
  return out.join('\n');
}

async function main(argv) {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      long: { type: 'boolean' }, only: { type: 'string' }, seed: { type: 'string' },
      json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    console.log('usage: node tests/soak/soak.mjs [--long] [--only node,reload,down,garbage,walk] [--seed N] [--json] [--quiet]');
    return 0;
  }
  const only = v.only ? v.only.split(',').map((s) => s.trim()).filter(Boolean) : ENVIRONMENTS;
  const log = v.quiet ? () => {} : (m) => console.error(`  ${m}`);
  console.error(`coola-tracker soak (${v.long ? 'long' : 'short'}): collector ${JSON.stringify(FAILURES)}, tracker ${JSON.stringify(TRACKER_OPTIONS)}`);
  const results = await runSuite({ long: !!v.long, only, seed: Number(v.seed ?? 1), log });
  if (v.json) console.log(JSON.stringify(results, null, 2));
  console.log(formatTable(results));
  const ok = results.every((r) => r.ok);
  console.log(ok ? 'soak: no event lost' : 'soak: FAILED');
  return ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    console.error(e.stack ?? e);
    process.exitCode = 2;
  });
}
