// The Chromium half of the bench: Debian's Chromium driven by playwright-core,
// one browser context per contender (fresh storage, fresh renderer), the page
// served by lib/server.mjs. Besides the page's own clock (performance.now(),
// fine-grained since the page is cross-origin isolated), the renderer's
// main-thread CPU time is read through CDP (Performance.getMetrics
// ThreadTime): it counts what a tracker deferred to timers too, and it is
// far less disturbed than wall time by other processes on a shared machine.
import { median, playwright } from "./common.mjs";
import { serve } from "./server.mjs";
import { CHROMIUM_ARGS } from "../../js/chromium.mjs";

const ARGS = [
  ...CHROMIUM_ARGS,
  // For the memory case: a precise performance.memory and window.gc().
  "--enable-precise-memory-info",
  "--js-flags=--expose-gc",
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, no) => {
      timer = setTimeout(() => no(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
    }),
  ]);
}

export class Chromium {
  static async start() {
    const c = new Chromium();
    c.srv = await serve();
    c.browser = await playwright().chromium.launch({ executablePath: "/usr/bin/chromium", args: ARGS });
    c.version = c.browser.version();
    return c;
  }

  async close() {
    await this.browser.close().catch(() => {});
    this.srv.server.close();
  }

  /** A fresh context and page with the bench loaded, and a CDP session on it. */
  async open() {
    const ctx = await this.browser.newContext();
    // A safety net under the page's stubs: nothing but the bench's own server
    // is reached; whatever else a tracker asks for is aborted and counted.
    this.blocked ||= new Map();
    await ctx.route(
      (url) => !url.href.startsWith(this.srv.url + "/"),
      (route) => {
        const host = new URL(route.request().url()).host || route.request().url().slice(0, 40);
        this.blocked.set(host, (this.blocked.get(host) || 0) + 1);
        return route.abort();
      },
    );
    const page = await ctx.newPage();
    const pageErrors = [];
    let crashed = false;
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("crash", () => (crashed = true));
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("Performance.enable", { timeDomain: "threadTicks" });
    await page.goto(this.srv.url + "/");
    await page.waitForFunction(() => window.benchReady === true);
    const threadTime = async () =>
      (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "ThreadTime").value * 1000;
    const evaluate = (fn, arg, ms = 120_000) =>
      withTimeout(page.evaluate(fn, arg), ms, "the page").catch((e) => {
        throw new Error(crashed ? "the renderer crashed" : e.message.split("\n")[0]);
      });
    /**
     * Waits until the page is idle (150 ms with < 2 ms of main-thread CPU),
     * at most `ms`; returns the CPU time when it became idle (or at the end).
     */
    const idle = async (ms) => {
      let prev = await threadTime();
      const until = Date.now() + ms;
      while (Date.now() < until) {
        await sleep(150);
        const cur = await threadTime();
        if (cur - prev < 2) return { at: prev, settled: true };
        prev = cur;
      }
      return { at: prev, settled: false };
    };
    /**
     * Runs fn in the page; returns its result and the main-thread CPU ms from
     * the call until the page is idle again (at most `settleMs` after it):
     * what the tracker deferred to timers is counted.
     */
    const cpu = async (fn, arg, settleMs = 4000) => {
      const t0 = await threadTime();
      const result = await evaluate(fn, arg);
      const { at, settled } = await idle(settleMs);
      return { result, cpuMs: at - t0, settled };
    };
    return { ctx, page, cdp, evaluate, cpu, idle, threadTime, pageErrors, close: () => ctx.close().catch(() => {}) };
  }
}

/** What measuring CPU costs by itself (an evaluate and the idle polling), in ms. */
export async function cpuOverhead(chromium) {
  const p = await chromium.open();
  try {
    await p.evaluate(() => window.bench.prepare("reference"));
    const base = [];
    for (let i = 0; i < 5; i++) base.push((await p.cpu(() => window.bench.run(0, 0))).cpuMs);
    return median(base);
  } finally {
    await p.close();
  }
}

/**
 * One rep for one contender, in a fresh context (a fresh renderer: nothing
 * compiled is cached, nothing a tracker of an earlier rep left running
 * disturbs it): start-up of a fresh tracker and the warm-up (see page.mjs
 * `prepare`), the page left to go idle, then up to `calls` calls (one per
 * microtask checkpoint) within `budgetMs`. Returns ns per call, wall (in the
 * call and its microtasks) and main-thread CPU (work the tracker deferred to
 * timers included, until idle or `settleMs`), the start-up ms and the cold
 * ns per call.
 */
export async function trackRep(chromium, id, { calls, warm, budgetMs, settleMs, options, overhead, tight }) {
  const p = await chromium.open();
  try {
    const startup = await p.evaluate(([id, o, w]) => window.bench.prepare(id, o, w), [id, options, warm]);
    await p.idle(settleMs);
    const run = tight ? ([c, b]) => window.bench.tight(c, b) : ([c, b]) => window.bench.run(c, b);
    const { result, cpuMs, settled } = await p.cpu(run, [calls, budgetMs], settleMs);
    return {
      wall: result.ns,
      cpu: (Math.max(0, cpuMs - overhead) * 1e6) / result.calls,
      calls: result.calls,
      settled,
      startup,
      errors: p.pageErrors,
    };
  } finally {
    await p.close();
  }
}

/** The send path (page.mjs `sendPath`), in a page of its own. */
export async function sendPathCase(chromium, opts) {
  const p = await chromium.open();
  try {
    return await p.evaluate((o) => window.bench.sendPath(o), opts);
  } finally {
    await p.close();
  }
}

/** The cases of coola-tracker alone that run in one page each. */
export async function encodingCase(chromium, opts) {
  const p = await chromium.open();
  try {
    return await p.evaluate((o) => window.bench.encoding(o), opts);
  } finally {
    await p.close();
  }
}

/**
 * track() with `queued` events already queued: ns per call, wall and
 * main-thread CPU, medians of `reps` runs of `calls` calls. Up to 10,000
 * queued, each rep has a fresh tracker filled anew; above that the one filled
 * tracker serves every rep.
 */
export async function scalingCase(chromium, { queued, persist, reps, calls }) {
  const p = await chromium.open();
  try {
    await p.evaluate(() => window.bench.scalingStart(), undefined, 300_000);
    // What timing one evaluate costs by itself, in main-thread CPU.
    const base = [];
    for (let i = 0; i < 5; i++) {
      const c0 = await p.threadTime();
      await p.evaluate(() => 0);
      base.push((await p.threadTime()) - c0);
    }
    const overhead = median(base);
    const wall = [];
    const cpu = [];
    let fillMs = 0;
    for (let r = 0; r < reps; r++) {
      if (r === 0 || queued <= 10_000) fillMs = await p.evaluate((o) => window.bench.scalingFill(o), { queued, persist }, 300_000);
      const c0 = await p.threadTime();
      wall.push(await p.evaluate((c) => window.bench.scalingRun(c), calls));
      cpu.push((Math.max(0, (await p.threadTime()) - c0 - overhead) * 1e6) / calls);
    }
    const end = await p.evaluate(() => window.bench.scalingEnd());
    return { ns: median(wall), cpu: median(cpu), walls: wall, cpus: cpu, fillMs, ...end };
  } finally {
    await p.close();
  }
}

export async function memoryCase(chromium, n) {
  const p = await chromium.open();
  try {
    return await p.evaluate((n) => window.bench.memory(n), n, 300_000);
  } finally {
    await p.close();
  }
}

